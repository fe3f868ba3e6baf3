using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Heed.Server.Tests;

/// <summary>The discovery file, the systemd user unit, and the heed serve / service / mcp config verbs.</summary>
public sealed class HostingTests
{
    internal static string HeedDll => Path.Combine(AppContext.BaseDirectory, "heed.dll");

    internal static Process StartHeed(string home, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(HeedDll);
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["HOME"] = home;
        start.Environment["XDG_CONFIG_HOME"] = Path.Combine(home, ".config");
        start.Environment["XDG_RUNTIME_DIR"] = Path.Combine(home, "run");
        start.Environment["XDG_DATA_HOME"] = Path.Combine(home, ".local", "share");
        return Process.Start(start)!;
    }

    internal static async Task<(int Code, string Output, string Error)> RunHeed(string home, params string[] args)
    {
        using Process p = StartHeed(home, args);
        p.StandardInput.Close();
        Task<string> output = p.StandardOutput.ReadToEndAsync(), error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (p.ExitCode, await output, await error);
    }

    [Fact]
    public async Task The_discovery_file_has_url_token_and_pid_with_mode_0600()
    {
        string folder = ServerHarness.NewFolder();
        string discovery = Path.Combine(folder, "run", "heed", "server.json");
        await using (ServerHarness h = await ServerHarness.StartAsync(o => o with { DiscoveryFile = discovery }))
        {
            JsonNode file = JsonNode.Parse(File.ReadAllText(discovery))!;
            Assert.Equal(h.Server.Url.ToString().TrimEnd('/'), file["url"]!.GetValue<string>());
            Assert.Equal(ServerHarness.Token, file["token"]!.GetValue<string>());
            Assert.Equal(Environment.ProcessId, file["pid"]!.GetValue<int>());
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(discovery));
            using var client = new HttpClient();
            client.DefaultRequestHeaders.Authorization = new("Bearer", file["token"]!.GetValue<string>());
            Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync(new Uri(file["url"]!.GetValue<string>() + "/api/v1/models"))).StatusCode);
        }

        Assert.False(File.Exists(discovery), "the discovery file outlives the server");
        Directory.Delete(folder, true);
    }

    [Fact]
    public void Discovery_falls_back_to_home_without_XDG_RUNTIME_DIR()
    {
        string? saved = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        try
        {
            Environment.SetEnvironmentVariable("XDG_RUNTIME_DIR", "/run/user/4242");
            Assert.Equal("/run/user/4242/heed/server.json", ServerPaths.DefaultDiscoveryFile());
            Environment.SetEnvironmentVariable("XDG_RUNTIME_DIR", null);
            Assert.EndsWith("/.heed/server.json", ServerPaths.DefaultDiscoveryFile(), StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("XDG_RUNTIME_DIR", saved);
        }
    }

    [Fact]
    public void The_unit_starts_heed_serve_at_login_and_restarts_on_failure()
    {
        string unit = SystemdUnit.Render(["/usr/bin/dotnet", "/opt/heed dir/heed.dll"], ["--port", "8471", "--workspace", "/home/u/100%/ws"]);
        string[] lines = unit.Split('\n');
        Assert.Equal("[Unit]", lines[0]);
        Assert.Contains("ExecStart=/usr/bin/dotnet \"/opt/heed dir/heed.dll\" serve --port 8471 --workspace /home/u/100%%/ws", lines);
        Assert.Contains("Restart=on-failure", lines);
        Assert.Contains("WantedBy=default.target", lines);
        Assert.True(Array.IndexOf(lines, "[Service]") < Array.IndexOf(lines, "[Install]"));
    }

    [Fact]
    public async Task Service_install_writes_the_unit_and_uninstall_removes_it()
    {
        string home = ServerHarness.NewFolder();
        (int code, string output, string error) = await RunHeed(home, "service", "install", "--no-enable", "--port", "9001");
        Assert.True(code == 0, error);
        string unitPath = Path.Combine(home, ".config", "systemd", "user", "heed.service");
        Assert.Contains(unitPath, output, StringComparison.Ordinal);
        string unit = File.ReadAllText(unitPath);
        Assert.Contains($"heed.dll serve --port 9001 --workspace {Path.Combine(home, ".local", "share", "heed", "workspace")}", unit, StringComparison.Ordinal);
        (code, output, _) = await RunHeed(home, "service", "status");
        Assert.Equal(3, code);
        Assert.Contains("unit: installed", output, StringComparison.Ordinal);
        Assert.Contains("no discovery file", output, StringComparison.Ordinal);
        (code, _, _) = await RunHeed(home, "service", "uninstall", "--no-enable");
        Assert.Equal(0, code);
        Assert.False(File.Exists(unitPath));
        Directory.Delete(home, true);
    }

    [Fact]
    public async Task Heed_serve_on_port_0_writes_the_discovery_file_and_answers()
    {
        string home = ServerHarness.NewFolder();
        string discovery = Path.Combine(home, "run", "heed", "server.json");
        using Process serve = StartHeed(home, "serve", "--port", "0", "--workspace", Path.Combine(home, "ws"));
        try
        {
            string? line = await serve.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.StartsWith("Heed ", line, StringComparison.Ordinal);
            JsonNode info = JsonNode.Parse(File.ReadAllText(discovery))!;
            Assert.Equal(serve.Id, info["pid"]!.GetValue<int>());
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(home, ".config", "heed", "token")));
            (int code, string output, string error) = await RunHeed(home, "service", "status");
            Assert.True(code == 0, $"exit {code}: {error}"); // no unit installed, but the server answers
            Assert.Contains("answers 200", output, StringComparison.Ordinal);
            (code, output, _) = await RunHeed(home, "mcp", "config");
            Assert.Equal(0, code);
            JsonNode config = JsonNode.Parse(output)!;
            Assert.Equal("mcp", config["mcpServers"]!["heed"]!["args"]!.AsArray()[^1]!.GetValue<string>());
            Assert.Equal(info["url"]!.GetValue<string>() + "/mcp", config["mcpServers"]!["heed-http"]!["url"]!.GetValue<string>());
        }
        finally
        {
            serve.Kill();
            await serve.WaitForExitAsync();
            Directory.Delete(home, true);
        }
    }

    [Fact]
    public async Task Serve_refuses_a_missing_models_folder_in_one_line()
    {
        string home = ServerHarness.NewFolder();
        (int code, _, string error) = await RunHeed(home, "serve", "--port", "0", "--models", Path.Combine(home, "nope"));
        Assert.Equal(2, code);
        Assert.Equal($"heed: error: --models {Path.Combine(home, "nope")}: no such folder", error.Trim());
        Directory.Delete(home, true);
    }
}
