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
        await page.ClickAsync("#go");

        ILocator picture = page.Locator("img.heatmap").First;
        await picture.WaitForAsync(new() { State = WaitForSelectorState.Visible, Timeout = 30_000 });
        await page.WaitForFunctionAsync("() => { const i = document.querySelector('img.heatmap'); return i && i.complete && i.naturalWidth > 0; }");
        Assert.Equal(1.0, await page.EvalOnSelectorAsync<double>("#progress", "p => p.value"));
        string log = await page.InnerTextAsync("#log");
        Assert.Contains("layer 0 head 0", log, StringComparison.Ordinal);
        string steps = await page.InnerTextAsync("#steps");
        Assert.Contains("Step 6", steps, StringComparison.Ordinal);
        Assert.Contains("output cat = [1.0644, 0.3977]", steps, StringComparison.Ordinal);
        Assert.Contains("\"cat\" attends most to \"The\"", await page.InnerTextAsync("#summary"), StringComparison.Ordinal);
        Assert.True(await page.Locator("#error").IsHiddenAsync());
        Assert.True(failures.Count == 0, string.Join("; ", failures));
    }
}
