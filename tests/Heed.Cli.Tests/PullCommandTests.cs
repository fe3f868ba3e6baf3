using Heed.Models.Tests;

namespace Heed.Cli.Tests;

/// <summary>heed pull against a hub stand-in on 127.0.0.1.</summary>
public class PullCommandTests
{
    [Fact]
    public void Pull_downloads_the_named_files_with_a_progress_bar_on_stderr()
    {
        using var hub = new FakeHub("karpathy/tinyllamas");
        byte[] model = new byte[200_000];
        new Random(4).NextBytes(model);
        hub.Add("stories260K/stories260K.bin", model);
        hub.Add("stories260K/tok512.bin", [1, 2, 3]);
        using var folder = new TempFolder();
        (int code, string output, string error) = CliRunner.Run(
            "pull", "karpathy/tinyllamas", "--file", "stories260K/stories260K.bin", "--file", "stories260K/tok512.bin", "--to", folder.Path, "--base-url", hub.BaseUrl);

        Assert.Equal(0, code);
        Assert.Equal(model, File.ReadAllBytes(Path.Combine(folder.Path, "stories260K", "stories260K.bin")));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(folder.Path, "stories260K", "tok512.bin")));
        Assert.Contains("downloaded\tsha256:" + FakeHub.Sha256(model), output, StringComparison.Ordinal);
        Assert.Contains("downloaded\tgit-sha1:" + FakeHub.GitSha1([1, 2, 3]), output, StringComparison.Ordinal);
        Assert.Contains("100.0%", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Pull_from_an_unreachable_hub_is_one_line_and_writes_nothing()
    {
        string closed;
        using (var hub = new FakeHub("o/r")) closed = hub.BaseUrl;
        using var folder = new TempFolder();
        (int code, string output, string error) = CliRunner.Run("pull", "o/r", "--file", "m.bin", "--to", folder.Path, "--base-url", closed);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Contains("cannot reach", error, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(folder.Path));
    }

    [Theory]
    [InlineData("--base-url", "ftp://example", "--base-url ftp://example")]
    [InlineData("--file", "../x", "--file ../x")]
    public void Bad_arguments_are_named(string flag, string value, string fragment)
    {
        using var folder = new TempFolder();
        string[] args = flag == "--base-url"
            ? ["pull", "o/r", "--to", folder.Path, flag, value]
            : ["pull", "o/r", "--to", folder.Path, flag, value, "--base-url", "http://127.0.0.1:9/"];
        (int code, _, string error) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Contains(fragment, error, StringComparison.Ordinal);
    }
}
