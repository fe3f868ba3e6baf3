using Heed.Models.Hub;

namespace Heed.Models.Tests;

/// <summary>heed pull's downloader against a hub stand-in on 127.0.0.1 (no test touches the internet).</summary>
public class HubClientTests
{
    private static byte[] Bytes(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    [Theory]
    [InlineData(100)]      // a small file: 200 with its git blob sha1 as ETag
    [InlineData(300_000)]  // an LFS file: 302 with X-Linked-ETag (sha256) and X-Linked-Size
    public async Task Downloads_verify_the_hubs_checksum(int length)
    {
        using var hub = new FakeHub("karpathy/tinyllamas");
        byte[] content = Bytes(length, length);
        hub.Add("stories260K/stories260K.bin", content);
        using var folder = new TempFolder();
        using var client = new HubClient(new Uri(hub.BaseUrl));
        var reports = new List<DownloadProgress>();
        PulledFile pulled = await client.DownloadAsync("karpathy/tinyllamas", "stories260K/stories260K.bin", folder.Path, progress: new Collect(reports));

        Assert.Equal(content, File.ReadAllBytes(Path.Combine(folder.Path, "stories260K", "stories260K.bin")));
        Assert.Equal("downloaded", pulled.Status);
        Assert.Equal(length < 1024 ? "git-sha1:" + FakeHub.GitSha1(content) : "sha256:" + FakeHub.Sha256(content), pulled.Checksum);
        Assert.Equal(length, reports[^1].Received);
        Assert.Equal(length, reports[^1].Total);
        Assert.False(File.Exists(pulled.LocalPath + ".part"));

        PulledFile again = await client.DownloadAsync("karpathy/tinyllamas", "stories260K/stories260K.bin", folder.Path);
        Assert.Equal("up to date", again.Status);
        Assert.Single(hub.Ranges); // nothing fetched the second time
    }

    [Fact]
    public async Task A_broken_download_resumes_with_a_range_request()
    {
        using var hub = new FakeHub("o/r");
        byte[] content = Bytes(500_000, 3);
        hub.Add("model.bin", content);
        hub.CutAfter = 123_456;
        using var folder = new TempFolder();
        using var client = new HubClient(new Uri(hub.BaseUrl));
        var first = await Assert.ThrowsAsync<HeedException>(() => client.DownloadAsync("o/r", "model.bin", folder.Path));
        Assert.Contains("run the command again to resume", first.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(folder.File("model.bin")));
        long partial = new FileInfo(folder.File("model.bin.part")).Length;
        Assert.InRange(partial, 1, content.Length - 1);

        hub.CutAfter = null;
        PulledFile pulled = await client.DownloadAsync("o/r", "model.bin", folder.Path);
        Assert.Equal("resumed", pulled.Status);
        Assert.Equal($"bytes={partial}-", hub.Ranges[^1]);
        Assert.Equal(content, File.ReadAllBytes(folder.File("model.bin")));
    }

    [Fact]
    public async Task A_checksum_mismatch_removes_the_data_and_says_so()
    {
        using var hub = new FakeHub("o/r");
        hub.Add("model.bin", Bytes(4096, 9));
        hub.WrongSha256 = new string('a', 64);
        using var folder = new TempFolder();
        using var client = new HubClient(new Uri(hub.BaseUrl));
        var ex = await Assert.ThrowsAsync<HeedException>(() => client.DownloadAsync("o/r", "model.bin", folder.Path));
        Assert.Contains("checksum mismatch", ex.Message, StringComparison.Ordinal);
        Assert.Contains("sha256:" + new string('a', 64), ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(folder.Path));
    }

    [Fact]
    public async Task Missing_files_offline_hubs_and_bad_names_are_one_line_errors()
    {
        using var hub = new FakeHub("o/r");
        using var folder = new TempFolder();
        using var client = new HubClient(new Uri(hub.BaseUrl));
        var missing = await Assert.ThrowsAsync<HeedException>(() => client.DownloadAsync("o/r", "nope.bin", folder.Path));
        Assert.Equal("o/r/nope.bin: not found (check the repository and file names): Entry not found", missing.Message);

        string closed = hub.BaseUrl;
        hub.Dispose();
        using var offline = new HubClient(new Uri(closed), timeout: TimeSpan.FromSeconds(5));
        var unreachable = await Assert.ThrowsAsync<HeedException>(() => offline.DownloadAsync("o/r", "model.bin", folder.Path));
        Assert.StartsWith("cannot reach http://127.0.0.1:", unreachable.Message, StringComparison.Ordinal);
        Assert.Contains("offline?", unreachable.Message, StringComparison.Ordinal);

        HeedAssert.Fails(() => HubClient.LocalPath(folder.Path, "../escape.bin"), "--file ../escape.bin");
        HeedAssert.Fails(() => HubClient.LocalPath(folder.Path, "/etc/passwd"), "relative path");
        await Assert.ThrowsAsync<HeedException>(() => client.DownloadAsync("not a repo", "f", folder.Path));
    }

    [Fact]
    public async Task The_file_list_comes_from_the_hub_api()
    {
        using var hub = new FakeHub("o/r");
        hub.Add("a.bin", Bytes(10, 1));
        hub.Add("sub/b.bin", Bytes(2000, 2));
        using var client = new HubClient(new Uri(hub.BaseUrl));
        Assert.Equal(["a.bin", "sub/b.bin"], (await client.ListFilesAsync("o/r")).Order(StringComparer.Ordinal));
    }

    private sealed class Collect(List<DownloadProgress> into) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => into.Add(value);
    }
}
