using System.Collections.Concurrent;
using PuppeteerSharp;

namespace Heed.Server.Tests;

/// <summary>The web page in a real browser: Debian's chromium, headless, driven by PuppeteerSharp over the DevTools protocol.</summary>
public sealed class WebPageTests
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task A_person_types_a_sentence_watches_progress_and_gets_pictures_and_steps()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install it with 'apt-get install -y chromium' (.ci/run does)");
        await using ServerHarness h = await ServerHarness.StartAsync();
        // ExecutablePath makes PuppeteerSharp run Debian's chromium; it never downloads a browser of its own.
        await using IBrowser browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            UserDataDir = Path.Combine(h.Folder, "chromium-profile"),
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        await using IPage page = await browser.NewPageAsync();
        // The DevTools events arrive on the connection's threads, not the test's.
        var failures = new ConcurrentQueue<string>();
        page.RequestFailed += (_, e) =>
        {
            // Chromium sometimes reports a streamed fetch that the page read to its end as ERR_ABORTED; the progress
            // assertions below prove the event stream itself arrived whole.
            if (!(e.Request.Url.EndsWith("/events", StringComparison.Ordinal) && e.Request.FailureText == "net::ERR_ABORTED")) failures.Enqueue(e.Request.Url + " " + e.Request.FailureText);
        };
        page.Console += (_, e) =>
        {
            if (e.Message.Type == ConsoleType.Error) failures.Enqueue(e.Message.Text);
        };

        await page.GoToAsync($"{h.Server.Url}?token={ServerHarness.Token}");
        Assert.DoesNotContain("token=", page.Url, StringComparison.Ordinal); // the page drops the token from the address bar
        await page.WaitForSelectorAsync("#model option[value='seed-cat-sat']"); // attached: an option is never visible on its own
        await page.TypeAsync("#intent", "The cat sat on the mat");
        Assert.Equal("The cat sat on the mat", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#intent').value"));
        // Puppeteer has no check(): click the box only when it is clear, then make sure it ended up ticked.
        if (!await page.EvaluateFunctionAsync<bool>("() => document.querySelector('#all-layers').checked")) await page.ClickAsync("#all-layers");
        Assert.True(await page.EvaluateFunctionAsync<bool>("() => document.querySelector('#all-layers').checked"));
        await page.ClickAsync("#go");

        // The report link is shown last, once every picture is in the page.
        await page.WaitForSelectorAsync("#report", new WaitForSelectorOptions { Visible = true, Timeout = 30_000 });
        foreach (string kind in new[] { "heatmap", "model-view", "rollout", "head-view-layer0", "network-layer0" })
        {
            Assert.True(
                await page.EvaluateFunctionAsync<bool>("k => [...document.querySelectorAll('img')].some(i => i.classList.contains(k) && i.complete && i.naturalWidth > 0)", kind),
                $"no drawn {kind} picture in the page");
        }

        Assert.Single(await page.QuerySelectorAllAsync("img.model-view"));
        Assert.Single(await page.QuerySelectorAllAsync("img.rollout"));

        // The saved report is the run's self-contained page (held in the page as a blob, fetched from data-source).
        Assert.StartsWith("blob:", await Attribute("#report", "href") ?? "", StringComparison.Ordinal);
        string source = await Attribute("#report", "data-source") ?? "";
        Assert.Matches("^/api/v1/runs/[0-9a-f]+/report\\.html$", source);
        string report = await h.Client.GetStringAsync(new Uri(source, UriKind.Relative));
        Assert.StartsWith("<!DOCTYPE html>", report, StringComparison.Ordinal);
        Assert.Contains("Step 6. Weighted sum", report, StringComparison.Ordinal);

        // Progress was shown: the bar is full and the log lists every event from the first to the last, in order.
        Assert.True(await (await page.QuerySelectorAsync("#progress-box"))!.IsVisibleAsync());
        Assert.Equal(1.0, await page.EvaluateFunctionAsync<double>("() => document.querySelector('#progress').value"));
        string log = await InnerText("#log");
        string[] lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("queued", lines[0]);
        Assert.Equal("done", lines[^1]);
        int tokenized = Array.IndexOf(lines, "tokenized: 6 tokens"), head = Array.IndexOf(lines, "layer 0 head 0");
        Assert.True(tokenized > 0 && head > tokenized, log);
        string steps = await InnerText("#steps");
        Assert.Contains("Step 6", steps, StringComparison.Ordinal);
        Assert.Contains("output cat = [1.0644, 0.3977]", steps, StringComparison.Ordinal);
        Assert.Contains("\"cat\" attends most to \"The\"", await InnerText("#summary"), StringComparison.Ordinal);
        Assert.True(await (await page.QuerySelectorAsync("#error"))!.IsHiddenAsync());
        Assert.True(failures.IsEmpty, string.Join("; ", failures));

        // A reload (the address no longer has ?token=) keeps working: the models come back and no error shows.
        await page.ReloadAsync();
        Assert.DoesNotContain("token=", page.Url, StringComparison.Ordinal);
        await page.WaitForSelectorAsync("#model option[value='seed-cat-sat']");
        Assert.True(await (await page.QuerySelectorAsync("#error"))!.IsHiddenAsync());

        // A tab that never had the token says in one line what to open.
        IPage fresh = await browser.NewPageAsync();
        await fresh.GoToAsync(h.Server.Url.ToString());
        Assert.StartsWith("This tab has no token yet: open the address 'heed serve' printed", await fresh.EvaluateFunctionAsync<string>("() => document.querySelector('#error').textContent"), StringComparison.Ordinal);
        Assert.True(failures.IsEmpty, string.Join("; ", failures));

        Task<string?> Attribute(string selector, string name) =>
            page.EvaluateFunctionAsync<string?>("(s, a) => document.querySelector(s).getAttribute(a)", selector, name);

        Task<string> InnerText(string selector) =>
            page.EvaluateFunctionAsync<string>("s => document.querySelector(s).innerText", selector);
    }
}
