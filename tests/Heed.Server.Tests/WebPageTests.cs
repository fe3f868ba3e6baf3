using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using PuppeteerSharp;
using PuppeteerSharp.Input;

namespace Heed.Server.Tests;

/// <summary>The web page in a real browser: Debian's chromium, headless, driven by PuppeteerSharp over the DevTools protocol.</summary>
public sealed class WebPageTests
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task A_person_types_a_sentence_watches_progress_and_gets_pictures_and_steps()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        await using IBrowser browser = await Launch(h.Folder);
        var failures = new ConcurrentQueue<string>();
        await using IPage page = await NewPage(browser, failures);

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

        // The explorer: one layer, one head, the focus "cat"; the heatmap's cells and the neuron view's softmax are the run's weights.
        string id = Regex.Match(page.Url, "#run=([0-9a-f]+)").Groups[1].Value;
        Assert.NotEmpty(id);
        await page.WaitForSelectorAsync("#modelview[data-ready]");
        Assert.Equal(["0"], await Values(page, "#layer option"));
        Assert.Equal(["all", "0"], await Values(page, "#head option"));
        Assert.Equal("1", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#tokens button[aria-pressed=true]').dataset.index"));
        double[][] weights = ServerHarness.Matrix((await h.GetJson($"/api/v1/runs/{id}/layers/0/heads/0"))["weights"]);
        Assert.Equal(weights, await Heatmap(page, "#heatmap"));
        Assert.Equal(weights[1], await Column(page, "#neuron td.softmax"));
        Assert.Equal(new[] { 1.0, 0.0, 1.0, 0.0, 1.0, 0.0 }, await Column(page, "#neuron td.score")); // Q_cat·K_j, unscaled in the seed
        await Screenshot(page, "seed-explorer");

        // A reload (the address no longer has ?token=) keeps working: the models come back, no error shows, and the run reopens.
        await page.ReloadAsync();
        Assert.DoesNotContain("token=", page.Url, StringComparison.Ordinal);
        await page.WaitForSelectorAsync("#model option[value='seed-cat-sat']");
        await page.WaitForSelectorAsync("#modelview[data-ready]");
        Assert.Equal(weights, await Heatmap(page, "#heatmap"));
        Assert.True(await (await page.QuerySelectorAsync("#error"))!.IsHiddenAsync());

        // A run that is gone says so inline, in one line.
        await page.EvaluateFunctionAsync("() => { location.hash = 'run=0123456789abcdef'; }");
        await page.WaitForSelectorAsync("#error", new WaitForSelectorOptions { Visible = true });
        Assert.Contains("run '0123456789abcdef': no such run", await InnerText("#error"), StringComparison.Ordinal);
        Assert.True(await page.EvaluateFunctionAsync<double>("() => document.querySelector('#error').getBoundingClientRect().height") < 30);

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

    [Fact]
    public async Task The_explorer_walks_stories260K_by_layer_head_and_token_within_3000_pixels()
    {
        string? missing = TestPaths.MissingReason("models/stories260K/stories260K.bin");
        Assert.True(missing is null, missing);
        string models = ServerHarness.NewFolder();
        Directory.CreateDirectory(Path.Combine(models, "stories260K"));
        foreach (string file in new[] { "stories260K.bin", "tok512.bin" }) File.Copy(TestPaths.Shared("models", "stories260K", file), Path.Combine(models, "stories260K", file));
        await using ServerHarness h = await ServerHarness.StartAsync(o => o with { ModelsDirectory = models });
        await using IBrowser browser = await Launch(h.Folder);
        var failures = new ConcurrentQueue<string>();
        await using IPage page = await NewPage(browser, failures);

        // Intent first: a sentence, a model from the server's list, Analyse; the progress names each step.
        await page.GoToAsync($"{h.Server.Url}?token={ServerHarness.Token}");
        await page.WaitForSelectorAsync("#model option[value='stories260K']");
        await page.SelectAsync("#model", "stories260K");
        await page.TypeAsync("#intent", "Once upon a time there was a cat");
        await page.ClickAsync("#go");
        await page.WaitForSelectorAsync("#rollout[data-ready]", new WaitForSelectorOptions { Timeout = 60_000 });
        string[] log = (await page.EvaluateFunctionAsync<string>("() => document.querySelector('#log').textContent")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("queued", log[0]);
        Assert.Contains(log, l => l.StartsWith("layer 4: attention of 8 heads", StringComparison.Ordinal));
        Assert.Equal("done", log[^1]);
        Assert.StartsWith("step 7 of 7: done", await InnerText(page, "#current"), StringComparison.Ordinal);
        string id = Regex.Match(page.Url, "#run=([0-9a-f]+)").Groups[1].Value;
        JsonNode status = await h.GetJson($"/api/v1/runs/{id}");
        int tokens = status["tokens"]!.AsArray().Count;

        // One head at full size, thumbnails for the rest: 5 layers x 8 heads, and the page stays short.
        Assert.Equal(["0", "1", "2", "3", "4"], await Values(page, "#layer option"));
        Assert.Equal(["all", "0", "1", "2", "3", "4", "5", "6", "7"], await Values(page, "#head option"));
        Assert.Equal(40, (await page.QuerySelectorAllAsync("#modelview canvas")).Length);
        Assert.Equal(tokens, (await page.QuerySelectorAllAsync("#tokens button.token")).Length);
        Assert.Equal(tokens * tokens, (await page.QuerySelectorAllAsync("#heatmap rect.cell")).Length);
        double height = await page.EvaluateFunctionAsync<double>("() => document.documentElement.scrollHeight");
        Assert.True(height < 3000, $"the page is {height} px tall");
        await Screenshot(page, "stories260K-explorer");

        // Layer from its control, head and layer from the keyboard; what is drawn is the run's weights of that head.
        await page.SelectAsync("#layer", "3");
        await Title(page, "layer 3, head 0");
        await page.ClickAsync("h1"); // the arrow keys belong to the page, not to a focused select
        await page.Keyboard.PressAsync(Key.ArrowRight);
        await page.Keyboard.PressAsync(Key.ArrowRight);
        await page.Keyboard.PressAsync(Key.ArrowDown);
        await Title(page, "layer 4, head 2");
        Assert.Equal(ServerHarness.Matrix((await h.GetJson($"/api/v1/runs/{id}/layers/4/heads/2"))["weights"]), await Heatmap(page, "#heatmap"));
        Assert.Equal("true", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#modelview button[data-layer=\"4\"][data-head=\"2\"]').getAttribute('aria-pressed')"));

        // A token clicked becomes the focus: the neuron view shows q of it against every k, the scores and the softmax of the run.
        await page.ClickAsync("#tokens button.token[data-index='3']");
        await page.WaitForFunctionAsync("() => document.querySelector('#neuron-title').textContent.includes('(#3)')");
        JsonNode walked = await h.GetJson($"/api/v1/runs/{id}/layers/4/heads/2/explain?position=3");
        Assert.Equal(ServerHarness.Matrix(walked["weights"])[3], await Column(page, "#neuron td.softmax"));
        Assert.Equal(ServerHarness.Matrix(walked["scores"])[3], await Column(page, "#neuron td.score"));
        double scale = walked["scale"]!.GetValue<double>();
        double[] sums = await Column(page, "#neuron td.sum"), scores = ServerHarness.Matrix(walked["scores"])[3];
        for (int j = 0; j <= 3; j++) Assert.Equal(scores[j], sums[j] * scale, 4);
        Assert.Equal(tokens - 4, (await page.QuerySelectorAllAsync("#neuron tr.masked")).Length); // causal: the later tokens
        Assert.Contains("Step 3. Scores of", await InnerText(page, "#steps"), StringComparison.Ordinal);

        // A step of the text lights up the part of the pictures it talks about.
        await page.HoverAsync("#step-3");
        Assert.Equal(tokens, (await page.QuerySelectorAllAsync("#neuron td.score.linked")).Length);

        // A thumbnail selects its layer and head.
        await page.ClickAsync("#modelview button[data-layer='1'][data-head='5']");
        await Title(page, "layer 1, head 5");
        Assert.Equal(ServerHarness.Matrix((await h.GetJson($"/api/v1/runs/{id}/layers/1/heads/5"))["weights"]), await Heatmap(page, "#heatmap"));

        // All heads: the head view draws every head; a toggle hides one; hovering a token keeps only its links.
        await page.SelectAsync("#head", "all");
        await Title(page, "layer 1, mean of its 8 heads");
        Assert.Equal(Enumerable.Range(0, 8).Select(i => i.ToString(CultureInfo.InvariantCulture)), await page.EvaluateFunctionAsync<string[]>("() => [...new Set([...document.querySelectorAll('#headview .link')].map(l => l.dataset.head))].sort()"));
        await page.ClickAsync("#head-toggles button[data-head='0']");
        Assert.Equal("false", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#head-toggles button[data-head=\"0\"]').getAttribute('aria-pressed')"));
        Assert.Empty(await page.QuerySelectorAllAsync("#headview .link[data-head='0']"));
        Assert.NotEmpty(await page.QuerySelectorAllAsync("#headview .link[data-head='1']"));
        await page.HoverAsync("#headview .tok[data-side='left'][data-i='5']");
        string[] hot = await page.EvaluateFunctionAsync<string[]>("() => [...document.querySelectorAll('#headview .link.hot')].map(l => l.dataset.from)");
        Assert.NotEmpty(hot);
        Assert.All(hot, f => Assert.Equal("5", f));
        Assert.True(await page.EvaluateFunctionAsync<bool>("() => document.querySelector('#headview').classList.contains('hovering')"));
        await Screenshot(page, "stories260K-all-heads");

        // The rollout drawn is the product of every layer's head-averaged attention with the residual identity.
        double[][] rollout = await Rollout(h, id, 5, 8, tokens);
        double[][] shown = await Heatmap(page, "#rollout");
        for (int i = 0; i < tokens; i++)
        {
            for (int j = 0; j < tokens; j++) Assert.Equal(rollout[i][j], shown[i][j], 12);
        }

        // A reload and a link by id come back to the same run, layer, head and focus.
        await page.ReloadAsync();
        await page.WaitForSelectorAsync("#rollout[data-ready]", new WaitForSelectorOptions { Timeout = 60_000 });
        Assert.Equal("1", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#layer').value"));
        Assert.Equal("all", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#head').value"));
        await Title(page, "layer 1, mean of its 8 heads");
        await using IPage linked = await NewPage(browser, failures);
        await linked.GoToAsync($"{h.Server.Url}?token={ServerHarness.Token}#run={id}&layer=2&head=6&focus=5");
        await linked.WaitForSelectorAsync("#rollout[data-ready]", new WaitForSelectorOptions { Timeout = 60_000 });
        await Title(linked, "layer 2, head 6");
        Assert.Equal(ServerHarness.Matrix((await h.GetJson($"/api/v1/runs/{id}/layers/2/heads/6"))["weights"]), await Heatmap(linked, "#heatmap"));
        Assert.Contains("(#5)", await InnerText(linked, "#neuron-title"), StringComparison.Ordinal);
        Assert.DoesNotContain("token=", linked.Url, StringComparison.Ordinal);
        Assert.True(failures.IsEmpty, string.Join("; ", failures));
        Directory.Delete(models, true);
    }

    [Fact]
    public async Task A_person_trains_a_model_watches_the_loss_and_attention_and_opens_it_in_the_explorer()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        await using IBrowser browser = await Launch(h.Folder);
        var failures = new ConcurrentQueue<string>();
        await using IPage page = await NewPage(browser, failures);
        await page.GoToAsync($"{h.Server.Url}?token={ServerHarness.Token}");
        await page.WaitForSelectorAsync("#model option[value='seed-cat-sat']");
        await page.ClickAsync("#train-panel summary");
        await page.WaitForSelectorAsync("#train-go", new WaitForSelectorOptions { Visible = true });
        await page.EvaluateFunctionAsync(@"() => {
            const set = (id, v) => { document.getElementById(id).value = v; };
            set('train-task', 'induction'); set('train-steps', 40); set('train-seed', 3); set('train-layers', 2); set('train-heads', 2);
            set('train-width', 16); set('train-context', 8); set('train-batch', 8); set('train-every', 10);
        }");
        await page.ClickAsync("#train-go");
        await page.WaitForSelectorAsync("#train-panel[data-done]", new WaitForSelectorOptions { Timeout = 60_000 });
        Assert.Equal("Succeeded", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#train-panel').dataset.done"));
        string model = await page.EvaluateFunctionAsync<string>("() => document.querySelector('#train-open').dataset.model");
        Assert.StartsWith("trained-", model, StringComparison.Ordinal);
        string id = model["trained-".Length..];

        // The curve drawn from the event stream has one point per step, and its values are the API's losses.
        JsonNode status = await h.GetJson($"/api/v1/trainings/{id}");
        float[] losses = status["losses"]!.AsArray().Select(n => n!.GetValue<float>()).ToArray();
        Assert.Equal(40, losses.Length);
        float[] drawn = await page.EvaluateFunctionAsync<float[]>("() => JSON.parse(document.querySelector('#loss-line').dataset.losses)");
        Assert.Equal(losses, drawn);
        Assert.Equal(40, await page.EvaluateFunctionAsync<int>("() => document.querySelector('#loss-line').getAttribute('points').trim().split(/\\s+/).length"));
        double[] ys = await page.EvaluateFunctionAsync<double[]>("() => document.querySelector('#loss-line').getAttribute('points').trim().split(/\\s+/).map(p => +p.split(',')[1])");
        Assert.True(ys[^1] > ys[0], "the curve goes down: the last loss is drawn lower than the first");

        // The chosen head's attention is drawn, from the last checkpoint.
        Assert.True(await page.EvaluateFunctionAsync<bool>("() => { const i = document.querySelector('#train-attention'); return i.complete && i.naturalWidth > 0; }"), "no drawn attention picture");
        Assert.Equal("40", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#train-attention').dataset.step"));
        Assert.Contains("checkpoint at step 40", await InnerText(page, "#train-attention-title"), StringComparison.Ordinal);
        Assert.Contains("Succeeded: 40 steps", await InnerText(page, "#train-status"), StringComparison.Ordinal);
        await Screenshot(page, "training");

        // Resume: the finished training goes on from its checkpoint to step 60 as a new training, drawn live like a new one.
        Assert.True(await (await page.QuerySelectorAsync("#train-resume-box"))!.IsVisibleAsync(), "no Resume action after a finished training");
        Assert.Equal("80", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#train-resume-steps').value"));
        await page.EvaluateFunctionAsync("() => { document.getElementById('train-resume-steps').value = 60; }");
        await page.ClickAsync("#train-resume");
        await page.WaitForSelectorAsync("#train-panel[data-done]", new WaitForSelectorOptions { Timeout = 60_000 });
        Assert.Equal("Succeeded", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#train-panel').dataset.done"));
        model = await page.EvaluateFunctionAsync<string>("() => document.querySelector('#train-open').dataset.model");
        string resumedId = model["trained-".Length..];
        Assert.NotEqual(id, resumedId);
        JsonNode resumed = await h.GetJson($"/api/v1/trainings/{resumedId}");
        Assert.Equal(id, resumed["resumedFrom"]!["training"]!.GetValue<string>());
        float[] all = resumed["losses"]!.AsArray().Select(n => n!.GetValue<float>()).ToArray();
        Assert.Equal(60, all.Length);
        Assert.Equal(losses, all[..40]);
        Assert.Equal(all, await page.EvaluateFunctionAsync<float[]>("() => JSON.parse(document.querySelector('#loss-line').dataset.losses)"));
        Assert.Equal("60", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#train-attention').dataset.step"));
        Assert.Contains("Succeeded: 60 steps", await InnerText(page, "#train-status"), StringComparison.Ordinal);
        Assert.Contains($"resumed from training {id} at step 40", await InnerText(page, "#train-status"), StringComparison.Ordinal);
        Assert.Equal("resumed at step 40", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#loss-curve .resumed + text').textContent"));
        await Screenshot(page, "training-resumed");

        // The trained model opens in the explorer.
        await page.ClickAsync("#train-open");
        await page.WaitForSelectorAsync("#modelview[data-ready]", new WaitForSelectorOptions { Timeout = 30_000 });
        Assert.Equal(model, await page.EvaluateFunctionAsync<string>("() => document.querySelector('#model').value"));
        Assert.Equal(["0", "1"], await Values(page, "#layer option"));
        Assert.True(await (await page.QuerySelectorAsync("#error"))!.IsHiddenAsync(), await InnerText(page, "#error"));
        Assert.True(failures.IsEmpty, string.Join("; ", failures));
        await Screenshot(page, "trained-model-explorer");
    }

    [Fact]
    public async Task A_person_trains_on_their_own_text_within_the_servers_size_limit()
    {
        await using ServerHarness h = await ServerHarness.StartAsync();
        await using IBrowser browser = await Launch(h.Folder);
        var failures = new ConcurrentQueue<string>();
        await using IPage page = await NewPage(browser, failures);
        await page.GoToAsync($"{h.Server.Url}?token={ServerHarness.Token}");
        await page.WaitForSelectorAsync("#model option[value='seed-cat-sat']");
        await page.ClickAsync("#train-panel summary");
        await page.WaitForSelectorAsync("#train-go", new WaitForSelectorOptions { Visible = true });
        Assert.True(await (await page.QuerySelectorAsync("#train-text-box"))!.IsHiddenAsync(), "the text field shows for a task without text");
        await page.SelectAsync("#train-task", "chars");
        await page.WaitForSelectorAsync("#train-text", new WaitForSelectorOptions { Visible = true });
        Assert.True(await (await page.QuerySelectorAsync("#train-vocab-box"))!.IsHiddenAsync(), "symbols show for chars");

        // The size is counted in UTF-8 bytes against the server's limit, and a text over it is not sent.
        await page.EvaluateFunctionAsync("n => { const t = document.getElementById('train-text'); t.value = 'é'.repeat(n); t.dispatchEvent(new Event('input')); }", 32769);
        Assert.StartsWith("65538 of at most 65536 bytes", await InnerText(page, "#train-text-size"), StringComparison.Ordinal);
        Assert.False(await page.EvaluateFunctionAsync<bool>("() => document.getElementById('train-text').checkValidity()"));

        await page.EvaluateFunctionAsync(@"() => {
            const set = (id, v) => { document.getElementById(id).value = v; };
            set('train-text', 'the cat sat on the mat. the dog sat on the log. ');
            document.getElementById('train-text').dispatchEvent(new Event('input'));
            set('train-steps', 6); set('train-layers', 1); set('train-heads', 1); set('train-width', 8); set('train-context', 8); set('train-batch', 2); set('train-every', 3);
        }");
        Assert.StartsWith("48 of at most 65536 bytes", await InnerText(page, "#train-text-size"), StringComparison.Ordinal);
        await page.ClickAsync("#train-go");
        await page.WaitForSelectorAsync("#train-panel[data-done]", new WaitForSelectorOptions { Timeout = 60_000 });
        Assert.Equal("Succeeded", await page.EvaluateFunctionAsync<string>("() => document.querySelector('#train-panel').dataset.done"));
        string id = (await page.EvaluateFunctionAsync<string>("() => document.querySelector('#train-open').dataset.model"))["trained-".Length..];
        JsonNode status = await h.GetJson($"/api/v1/trainings/{id}");
        Assert.Equal("chars", status["settings"]!["task"]!.GetValue<string>());
        Assert.Equal(48, status["settings"]!["textBytes"]!.GetValue<int>());
        Assert.True(failures.IsEmpty, string.Join("; ", failures));
        await Screenshot(page, "training-chars");
    }

    private static async Task<IBrowser> Launch(string folder)
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install it with 'apt-get install -y chromium' (.ci/run does)");
        // ExecutablePath makes PuppeteerSharp run Debian's chromium; it never downloads a browser of its own.
        return await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            UserDataDir = Path.Combine(folder, "chromium-profile"),
            DefaultViewport = new ViewPortOptions { Width = 1280, Height = 900 },
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    private static async Task<IPage> NewPage(IBrowser browser, ConcurrentQueue<string> failures)
    {
        IPage page = await browser.NewPageAsync();
        // The DevTools events arrive on the connection's threads, not the test's.
        page.RequestFailed += (_, e) =>
        {
            // Chromium sometimes reports a streamed fetch that the page read to its end as ERR_ABORTED; the progress
            // assertions prove the event stream itself arrived whole. A blob: URL is a picture the page already fetched from the
            // server and holds in memory: when a newer picture replaces it (setPicture revokes the old URL) or the page reloads
            // while the <img> still decodes it, Chromium aborts that load. The server request behind it is checked like any other.
            bool aborted = e.Request.FailureText == "net::ERR_ABORTED";
            bool benign = aborted && (e.Request.Url.EndsWith("/events", StringComparison.Ordinal) || e.Request.Url.StartsWith("blob:", StringComparison.Ordinal));
            if (!benign) failures.Enqueue(e.Request.Url + " " + e.Request.FailureText);
        };
        page.Console += (_, e) =>
        {
            if (e.Message.Type == ConsoleType.Error && !e.Message.Text.Contains("404", StringComparison.Ordinal)) failures.Enqueue(e.Message.Text);
        };
        return page;
    }

    // Screenshots are kept beside the test assembly, under web-page-screenshots/, as artifacts of the run.
    private static async Task Screenshot(IPage page, string name)
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "web-page-screenshots");
        Directory.CreateDirectory(folder);
        await page.ScreenshotAsync(Path.Combine(folder, name + ".png"), new ScreenshotOptions { FullPage = true });
    }

    private static Task<string> InnerText(IPage page, string selector) =>
        page.EvaluateFunctionAsync<string>("s => document.querySelector(s).innerText", selector);

    private static Task<string[]> Values(IPage page, string selector) =>
        page.EvaluateFunctionAsync<string[]>("s => [...document.querySelectorAll(s)].map(o => o.value)", selector);

    private static async Task Title(IPage page, string text) =>
        await page.WaitForFunctionAsync("t => document.querySelector('#heatmap-title').textContent === t", new WaitForFunctionOptions { Timeout = 10_000 }, text);

    // The data-value of every cell of a heatmap, as [rows][columns].
    private static async Task<double[][]> Heatmap(IPage page, string selector)
    {
        string[][] rows = await page.EvaluateFunctionAsync<string[][]>(
            "s => { const rows = []; for (const c of document.querySelectorAll(s + ' rect.cell')) { (rows[+c.dataset.row] ??= [])[+c.dataset.col] = c.dataset.value; } return rows; }", selector);
        return rows.Select(r => r.Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
    }

    private static async Task<double[]> Column(IPage page, string selector) =>
        (await page.EvaluateFunctionAsync<string[]>("s => [...document.querySelectorAll(s)].map(c => c.dataset.value)", selector))
            .Select(v => v == "-Infinity" ? double.NegativeInfinity : double.Parse(v, CultureInfo.InvariantCulture)).ToArray();

    // Rollout from the API's weights, as Heed.Explain's Rollout computes it.
    private static async Task<double[][]> Rollout(ServerHarness h, string id, int layers, int heads, int n)
    {
        double[][] r = Enumerable.Range(0, n).Select(i => Enumerable.Range(0, n).Select(j => i == j ? 1.0 : 0.0).ToArray()).ToArray();
        for (int l = 0; l < layers; l++)
        {
            var mean = new double[n, n];
            for (int hd = 0; hd < heads; hd++)
            {
                double[][] w = ServerHarness.Matrix((await h.GetJson($"/api/v1/runs/{id}/layers/{l}/heads/{hd}"))["weights"]);
                for (int i = 0; i < n; i++)
                {
                    for (int j = 0; j < n; j++) mean[i, j] += w[i][j] / heads;
                }
            }

            double[][] a = Enumerable.Range(0, n).Select(i =>
            {
                double[] row = Enumerable.Range(0, n).Select(j => mean[i, j] + (i == j ? 1 : 0)).ToArray();
                double sum = row.Sum();
                return row.Select(v => v / sum).ToArray();
            }).ToArray();
            r = a.Select(row => Enumerable.Range(0, n).Select(j => Enumerable.Range(0, n).Sum(k => row[k] * r[k][j])).ToArray()).ToArray();
        }

        return r;
    }
}
