using Microsoft.Playwright;

namespace Heed.Server.Tests;

/// <summary>The web page in a real browser: Debian's chromium, headless, driven by Playwright.</summary>
public sealed class WebPageTests
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task A_person_types_a_sentence_watches_progress_and_gets_pictures_and_steps()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install it with 'apt-get install -y chromium' (.ci/run does)");
        await using ServerHarness h = await ServerHarness.StartAsync();
        string profile = Path.Combine(h.Folder, "chromium-profile");
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowserContext browser = await playwright.Chromium.LaunchPersistentContextAsync(profile, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        IPage page = await browser.NewPageAsync();
        var failures = new List<string>();
        page.RequestFailed += (_, request) =>
        {
            // Chromium sometimes reports a streamed fetch that the page read to its end as ERR_ABORTED; the progress
            // assertions below prove the event stream itself arrived whole.
            if (!(request.Url.EndsWith("/events", StringComparison.Ordinal) && request.Failure == "net::ERR_ABORTED")) failures.Add(request.Url + " " + request.Failure);
        };
        page.Console += (_, message) =>
        {
            if (message.Type == "error") failures.Add(message.Text);
        };

        await page.GotoAsync($"{h.Server.Url}?token={ServerHarness.Token}");
        Assert.DoesNotContain("token=", page.Url, StringComparison.Ordinal); // the page drops the token from the address bar
        await page.Locator("#model option[value='seed-cat-sat']").WaitForAsync(new() { State = WaitForSelectorState.Attached });
        await page.FillAsync("#intent", "The cat sat on the mat");
        await page.CheckAsync("#all-layers");
        await page.ClickAsync("#go");

        // The report link is shown last, once every picture is in the page.
        await page.Locator("#report").WaitForAsync(new() { State = WaitForSelectorState.Visible, Timeout = 30_000 });
        foreach (string kind in new[] { "heatmap", "model-view", "rollout", "head-view-layer0", "network-layer0" })
        {
            Assert.True(
                await page.EvaluateAsync<bool>("k => [...document.querySelectorAll('img')].some(i => i.classList.contains(k) && i.complete && i.naturalWidth > 0)", kind),
                $"no drawn {kind} picture in the page");
        }

        Assert.Equal(1, await page.Locator("img.model-view").CountAsync());
        Assert.Equal(1, await page.Locator("img.rollout").CountAsync());

        // The saved report is the run's self-contained page (held in the page as a blob, fetched from data-source).
        Assert.StartsWith("blob:", await page.GetAttributeAsync("#report", "href") ?? "", StringComparison.Ordinal);
        string source = await page.GetAttributeAsync("#report", "data-source") ?? "";
        Assert.Matches("^/api/v1/runs/[0-9a-f]+/report\\.html$", source);
        string report = await h.Client.GetStringAsync(new Uri(source, UriKind.Relative));
        Assert.StartsWith("<!DOCTYPE html>", report, StringComparison.Ordinal);
        Assert.Contains("Step 6. Weighted sum", report, StringComparison.Ordinal);

        // Progress was shown: the bar is full and the log lists every event from the first to the last, in order.
        Assert.True(await page.Locator("#progress-box").IsVisibleAsync());
        Assert.Equal(1.0, await page.EvalOnSelectorAsync<double>("#progress", "p => p.value"));
        string log = await page.InnerTextAsync("#log");
        string[] lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("queued", lines[0]);
        Assert.Equal("done", lines[^1]);
        int tokenized = Array.IndexOf(lines, "tokenized: 6 tokens"), head = Array.IndexOf(lines, "layer 0 head 0");
        Assert.True(tokenized > 0 && head > tokenized, log);
        string steps = await page.InnerTextAsync("#steps");
        Assert.Contains("Step 6", steps, StringComparison.Ordinal);
        Assert.Contains("output cat = [1.0644, 0.3977]", steps, StringComparison.Ordinal);
        Assert.Contains("\"cat\" attends most to \"The\"", await page.InnerTextAsync("#summary"), StringComparison.Ordinal);
        Assert.True(await page.Locator("#error").IsHiddenAsync());
        Assert.True(failures.Count == 0, string.Join("; ", failures));
    }
}
