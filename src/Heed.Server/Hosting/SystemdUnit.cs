using System.Globalization;
using System.Text;

namespace Heed.Server;

/// <summary>The systemd user unit that starts <c>heed serve</c> at login.</summary>
public static class SystemdUnit
{
    /// <summary>Writes the unit's text. <paramref name="command"/> is the heed executable (or dotnet and heed.dll), <paramref name="serveArguments"/> what follows <c>serve</c>.</summary>
    public static string Render(IReadOnlyList<string> command, IReadOnlyList<string> serveArguments)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(serveArguments);
        string exec = string.Join(' ', command.Concat(["serve"]).Concat(serveArguments).Select(Quote));
        var unit = new StringBuilder();
        unit.Append("[Unit]\n");
        unit.Append("Description=Heed attention engine (REST, MCP and web page on 127.0.0.1)\n");
        unit.Append("After=network.target\n\n");
        unit.Append("[Service]\n");
        unit.Append("Type=simple\n");
        unit.Append(CultureInfo.InvariantCulture, $"ExecStart={exec}\n");
        unit.Append("Restart=on-failure\n");
        unit.Append("RestartSec=2\n");
        unit.Append("Environment=DOTNET_CLI_TELEMETRY_OPTOUT=1\n");
        unit.Append("NoNewPrivileges=true\n\n");
        unit.Append("[Install]\n");
        unit.Append("WantedBy=default.target\n");
        return unit.ToString();
    }

    /// <summary>Quotes one word for ExecStart (systemd's quoting: double quotes, backslash escapes; % doubled).</summary>
    public static string Quote(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        string escaped = word.Replace("%", "%%", StringComparison.Ordinal);
        if (escaped.Length > 0 && escaped.All(c => char.IsAsciiLetterOrDigit(c) || "/._-=:,+@%".Contains(c, StringComparison.Ordinal)))
        {
            return escaped;
        }

        return "\"" + escaped.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }
}
