using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;

namespace Heed.Cli.Tests;

/// <summary>
/// The tool package as a user gets it: 'dotnet pack' of the heed project (from this build's output), 'dotnet tool install
/// --tool-path' from that folder alone, and 'heed explain' run from the installed tool in another folder.
/// </summary>
public sealed class PackageTests : IDisposable
{
    private readonly TempFolder _dir = new("heed-package-");

    public void Dispose() => _dir.Dispose();

    private static (int Code, string Out, string Err) Run(string file, string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (string a in args) start.ArgumentList.Add(a);
        foreach ((string key, string value) in environment) start.Environment[key] = value;
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(300_000), $"{file} {string.Join(' ', args)} did not finish within five minutes");
        return (process.ExitCode, output.Result, error.Result);
    }

    [Fact]
    public void The_tool_packs_installs_with_tool_path_and_explains_from_any_folder()
    {
        // Pack what this test run built (bin/Release or bin/Debug, as the test assembly was built), without building again.
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        string project = Path.Combine(TestPaths.RepoRoot(), "src", "Heed.Cli", "Heed.Cli.csproj");
        string packages = _dir.File("packages"), tools = _dir.File("tools"), cache = _dir.File("nuget-cache"), elsewhere = _dir.File("elsewhere");
        Directory.CreateDirectory(elsewhere);

        // Only the packed folder as a source, and a NuGet cache of its own: the install proves the package alone is enough,
        // and never reuses an older heed of the same version from the user's cache.
        File.WriteAllText(_dir.File("nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="packed" value="{packages}" />
              </packageSources>
            </configuration>
            """);
        var environment = new Dictionary<string, string> { ["NUGET_PACKAGES"] = cache, ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" };

        var pack = Run("dotnet", _dir.Path, environment, "pack", project, "-c", configuration, "--no-build", "-o", packages);
        Assert.True(pack.Code == 0, pack.Out + pack.Err);
        string nupkg = Assert.Single(Directory.GetFiles(packages, "heed.*.nupkg"), f => !f.EndsWith(".snupkg", StringComparison.Ordinal));
        Assert.Single(Directory.GetFiles(packages, "heed.*.snupkg"));

        // The package says what it is: a .NET tool named heed, with a licence expression, a README and where its source is.
        using (ZipArchive zip = ZipFile.OpenRead(nupkg))
        {
            XNamespace ns = "http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd";
            using Stream nuspecStream = zip.GetEntry("heed.nuspec")!.Open();
            XElement metadata = XDocument.Load(nuspecStream).Root!.Element(ns + "metadata")!;
            Assert.Equal("MIT", (string?)metadata.Element(ns + "license"));
            Assert.Equal("README.md", (string?)metadata.Element(ns + "readme"));
            Assert.Equal("git", (string?)metadata.Element(ns + "repository")?.Attribute("type"));
            Assert.Equal("DotnetTool", (string?)metadata.Element(ns + "packageTypes")?.Element(ns + "packageType")?.Attribute("name"));
            Assert.NotNull(zip.GetEntry("README.md"));
            Assert.NotNull(zip.GetEntry("LICENSE"));
            Assert.Contains(zip.Entries, e => e.FullName.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal));
        }

        string version = Path.GetFileNameWithoutExtension(nupkg)["heed.".Length..];
        var install = Run("dotnet", _dir.Path, environment, "tool", "install", "heed", "--tool-path", tools, "--version", version, "--configfile", _dir.File("nuget.config"));
        Assert.True(install.Code == 0, install.Out + install.Err);

        string heed = Path.Combine(tools, OperatingSystem.IsWindows() ? "heed.exe" : "heed");
        var explain = Run(heed, elsewhere, environment, "explain");
        Assert.True(explain.Code == 0, explain.Err);
        Assert.Contains("output cat = [1.0644, 0.3977]", explain.Out, StringComparison.Ordinal);
        Assert.Equal("", explain.Err);
        var version2 = Run(heed, elsewhere, environment, "--version");
        Assert.StartsWith(version, version2.Out.Trim(), StringComparison.Ordinal);
    }
}
