using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Heed.Server;

namespace Heed.Cli.Commands;

/// <summary><c>heed service install|uninstall|status</c>: the systemd user unit that starts <c>heed serve</c> at login.</summary>
internal static class ServiceCommand
{
    public static Command Create()
    {
        var command = new Command("service", "Register Heed's server as a systemd user service (~/.config/systemd/user/heed.service).");
        var unitFile = new Option<string?>("--unit-file") { Description = "Where the unit goes (default $XDG_CONFIG_HOME/systemd/user/heed.service)" };
        var noEnable = new Option<bool>("--no-enable") { Description = "Only write the unit; do not call systemctl" };
        var port = new Option<int>("--port") { Description = "The port heed serve listens on", DefaultValueFactory = _ => 8471 };
        var models = new Option<string?>("--models") { Description = "Folder of models" };
        var workspace = new Option<string?>("--workspace") { Description = "Workspace folder (default ~/.local/share/heed/workspace)" };

        var install = new Command("install", "Write the unit and enable it (systemctl --user enable --now heed.service).") { unitFile, noEnable, port, models, workspace };
        install.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            string path = parse.GetValue(unitFile) ?? ServerPaths.DefaultUnitFile();
            var serve = new List<string> { "--port", parse.GetValue(port).ToString(CultureInfo.InvariantCulture) };
            if (parse.GetValue(models) is string m) serve.AddRange(["--models", Path.GetFullPath(m)]);
            serve.AddRange(["--workspace", Path.GetFullPath(parse.GetValue(workspace) ?? Path.Combine(DataHome(), "heed", "workspace"))]);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, SystemdUnit.Render(Executable.Command(), serve));
            output.WriteLine($"wrote {path}");
            if (!parse.GetValue(noEnable))
            {
                Systemctl(output, "daemon-reload");
                Systemctl(output, "enable", "--now", "heed.service");
            }

            return 0;
        }));

        var uninstall = new Command("uninstall", "Disable the service and remove the unit.") { unitFile, noEnable };
        uninstall.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            string path = parse.GetValue(unitFile) ?? ServerPaths.DefaultUnitFile();
            if (!parse.GetValue(noEnable))
            {
                Systemctl(output, "disable", "--now", "heed.service");
            }

            if (File.Exists(path))
            {
                File.Delete(path);
                output.WriteLine($"removed {path}");
            }
            else
            {
                output.WriteLine($"no unit at {path}");
            }

            if (!parse.GetValue(noEnable))
            {
                Systemctl(output, "daemon-reload");
            }

            return 0;
        }));

        var status = new Command("status", "Say whether the unit is installed and whether a server answers at the discovery file's URL.") { unitFile };
        status.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            string path = parse.GetValue(unitFile) ?? ServerPaths.DefaultUnitFile();
            output.WriteLine(File.Exists(path) ? $"unit: installed at {path}" : $"unit: not installed ({path})");
            string discovery = ServerPaths.DefaultDiscoveryFile();
            DiscoveryInfo? info = DiscoveryInfo.Read(discovery);
            if (info is null)
            {
                output.WriteLine($"server: no discovery file at {discovery}");
                return 3;
            }

            // The first request to a server that just started compiles its pipeline: on a busy machine that takes seconds.
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            try
            {
                using HttpResponseMessage health = http.GetAsync(new Uri(info.Url + "/api/v1/health")).GetAwaiter().GetResult();
                output.WriteLine($"server: {info.Url} (pid {info.Pid}) answers {(int)health.StatusCode}");
                return health.IsSuccessStatusCode ? 0 : 3;
            }
            catch (HttpRequestException ex)
            {
                output.WriteLine($"server: {info.Url} (pid {info.Pid}) does not answer: {ex.Message}");
                return 3;
            }
            catch (TaskCanceledException)
            {
                output.WriteLine($"server: {info.Url} (pid {info.Pid}) does not answer within {http.Timeout.TotalSeconds:0} s");
                return 3;
            }
        }));

        command.Subcommands.Add(install);
        command.Subcommands.Add(uninstall);
        command.Subcommands.Add(status);
        return command;
    }

    private static string DataHome()
    {
        string? data = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        return string.IsNullOrEmpty(data) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share") : data;
    }

    /// <summary>Runs <c>systemctl --user ARGS</c>; a failure (systemctl missing, or a non-zero exit) is a <see cref="HeedException"/> carrying systemctl's own message.</summary>
    private static void Systemctl(TextWriter output, params string[] args)
    {
        string call = $"systemctl --user {string.Join(' ', args)}";
        var start = new ProcessStartInfo("systemctl") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add("--user");
        foreach (string a in args) start.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new HeedException($"{call}: systemctl is not available here (the unit needs a systemd user session); --no-enable writes the unit alone");
        }

        using (process)
        {
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            string stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                string message = string.Join(' ', $"{stderr}\n{stdout.Result}".Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                throw new HeedException($"{call} failed (exit {process.ExitCode}): {(message.Length == 0 ? "no message" : message)}");
            }

            output.WriteLine($"{call}: done");
        }
    }
}

/// <summary>How to start this heed again: the heed executable, or dotnet with heed.dll.</summary>
internal static class Executable
{
    public static IReadOnlyList<string> Command()
    {
        string process = Environment.ProcessPath ?? "heed";
        string name = Path.GetFileNameWithoutExtension(process);
        return name == "dotnet" ? [process, typeof(Executable).Assembly.Location] : [process];
    }
}
