using Heed.IO;
using Heed.Models.Generation;
using Heed.Models.Gpt2;
using Heed.Models.Tokenizers;
using Heed.Models.Training;

namespace Heed.Models.Tests.Training;

/// <summary>The trainer's contracts: reproducible from the seed, resumable bit for bit, checkpoints that load as GPT-2.</summary>
public sealed class TrainerTests : IDisposable
{
    private static readonly TrainingOptions Small = new()
    {
        Task = "induction",
        Steps = 12,
        BatchSize = 4,
        LearningRate = 1e-2,
        WeightDecay = 0.1,
        Clip = 0.5,
        Layers = 2,
        Heads = 2,
        Width = 16,
        Context = 12,
        VocabSize = 10,
        Seed = 3,
        Threads = 1,
    };

    private readonly TempFolder _dir = new("heed-train-");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Same_seed_gives_the_same_losses_for_any_thread_count_and_another_seed_does_not()
    {
        var one = Trainer.Create(Small);
        one.Run();
        var two = Trainer.Create(Small with { Threads = 2 });
        two.Run();
        Assert.Equal(one.Losses, two.Losses);
        for (int n = 0; n < one.Model.Parameters.Count; n++) Assert.Equal(one.Model.Parameters[n].Value, two.Model.Parameters[n].Value);

        var other = Trainer.Create(Small with { Seed = 4 });
        other.Run();
        Assert.NotEqual(one.Losses, other.Losses);
    }

    [Theory]
    [InlineData("induction", 5)]
    [InlineData("seed", 7)]
    [InlineData("chars", 4)]
    public void Resume_after_k_steps_continues_exactly_as_the_uninterrupted_run(string task, int k)
    {
        string text = _dir.File("text.txt");
        File.WriteAllText(text, "The cat sat on the mat. A dog ran to the park; the bird sang. Ünïcödé bytes too.\n");
        TrainingOptions options = Small with { Task = task, TextPath = task == "chars" ? text : null };
        var whole = Trainer.Create(options);
        whole.Run();

        var first = Trainer.Create(options with { Steps = k });
        first.Run();
        string checkpoint = _dir.File("ckpt-" + task);
        first.SaveCheckpoint(checkpoint);
        var resumed = Trainer.Resume(checkpoint, steps: options.Steps);
        Assert.Equal(k, resumed.Step);
        resumed.Run();

        Assert.Equal(whole.Losses, resumed.Losses);
        for (int n = 0; n < whole.Model.Parameters.Count; n++)
        {
            Assert.Equal(whole.Model.Parameters[n].Value, resumed.Model.Parameters[n].Value);
            Assert.Equal(whole.Optimizer.ExpAvgSq[n], resumed.Optimizer.ExpAvgSq[n]);
        }
    }

    [Fact]
    public void Resume_refuses_a_different_text()
    {
        string text = _dir.File("a.txt"), other = _dir.File("b.txt");
        File.WriteAllText(text, "abcabcabcabcabcabcabcabc");
        File.WriteAllText(other, "abcabcabcabcabcabcabcabd");
        var trainer = Trainer.Create(Small with { Task = "chars", TextPath = text, Steps = 1 });
        trainer.Run();
        trainer.SaveCheckpoint(_dir.File("c"));
        var ex = Assert.Throws<HeedException>(() => Trainer.Resume(_dir.File("c"), textPath: other));
        Assert.Contains("not the text the checkpoint was trained on", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A checkpoint is a Hugging Face GPT-2 folder: <see cref="ModelFiles.LoadModel"/> gives a <see cref="Gpt2Model"/> whose logits
    /// for the probe equal the trainer's own forward pass (to 1e-4: the two use different matrix kernels), and
    /// <see cref="ModelFiles.LoadTokenizer"/> encodes the task's text to the ids the trainer used.
    /// </summary>
    [Theory]
    [InlineData("induction")]
    [InlineData("seed")]
    [InlineData("chars")]
    public void A_checkpoint_loads_as_a_gpt2_model_with_the_trainers_logits_and_tokens(string task)
    {
        string text = _dir.File("text.txt");
        File.WriteAllText(text, "hello world, hello attention: a small text to learn from, with é and ü.\n");
        var trainer = Trainer.Create(Small with { Task = task, TextPath = task == "chars" ? text : null, Steps = 6 });
        trainer.Run();
        string folder = _dir.File("model-" + task);
        trainer.SaveCheckpoint(folder);

        ICausalLanguageModel model = ModelFiles.LoadModel(folder);
        Assert.IsType<Gpt2Model>(model);
        TrainingProbe probe = trainer.Probe();
        float[] logits = model.CreateSession(probe.Tokens.Length).ForwardAll(probe.Tokens).Data;
        Assert.Equal(probe.Logits.Length, logits.Length);
        double worst = 0;
        for (int i = 0; i < logits.Length; i++) worst = Math.Max(worst, Math.Abs(logits[i] - probe.Logits[i]));
        Assert.True(worst < 1e-4, $"max |Gpt2Model − trainer| logits {worst:E3}");

        ITokenizer tokenizer = ModelFiles.LoadTokenizer(folder);
        Assert.Equal(trainer.Task.Vocabulary.Count, tokenizer.VocabSize);
        string probeText = string.Concat(probe.Tokens.Select(id => System.Text.Encoding.Latin1.GetString(((Gpt2Tokenizer)tokenizer).DecodePiece(0, id))));
        byte[] probeBytes = [.. probe.Tokens.SelectMany(id => ((Gpt2Tokenizer)tokenizer).DecodePiece(0, id))];
        Assert.Equal(probe.Tokens, tokenizer.Encode(System.Text.Encoding.UTF8.GetString(probeBytes), false, false));
        Assert.NotEmpty(probeText);

        IReadOnlyDictionary<string, Tensor> tensors = Safetensors.Read(Path.Combine(folder, "model.safetensors"));
        Assert.Equal([Small.Width, 3 * Small.Width], tensors["h.0.attn.c_attn.weight"].Shape.ToArray()); // Conv1D [in, out]
        Assert.False(tensors.ContainsKey("lm_head.weight")); // tied to wte
    }

    [Fact]
    public void Seed_sentences_are_whole_word_tokens()
    {
        var task = new SeedSentencesTask();
        Gpt2Tokenizer tokenizer = task.Vocabulary.CreateTokenizer();
        Assert.Equal("The cat sat on the mat.", SeedSentencesTask.Sentences[0]);
        int[] ids = tokenizer.Encode("The cat sat on the mat. The dog sat on the rug.", false, false);
        Assert.Equal(["The", "Ġcat", "Ġsat", "Ġon", "Ġthe", "Ġmat", ".", "ĠThe", "Ġdog", "Ġsat", "Ġon", "Ġthe", "Ġrug", "."], ids.Select(tokenizer.PieceText));
        (int[] probe, _) = task.Probe(14);
        Assert.Equal(ids, probe);
    }

    [Fact]
    public void Options_out_of_range_are_refused_with_the_flag_named()
    {
        Assert.Contains("--width 30", Assert.Throws<HeedException>(() => Trainer.Create(Small with { Width = 30, Heads = 4 })).Message, StringComparison.Ordinal);
        Assert.Contains("--lr", Assert.Throws<HeedException>(() => Trainer.Create(Small with { LearningRate = 0 })).Message, StringComparison.Ordinal);
        Assert.Contains("--task", Assert.Throws<HeedException>(() => Trainer.Create(Small with { Task = "poetry" })).Message, StringComparison.Ordinal);
        Assert.Contains("--text", Assert.Throws<HeedException>(() => Trainer.Create(Small with { Task = "chars" })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cancelled_run_stops_between_steps()
    {
        using var cancel = new CancellationTokenSource();
        var trainer = Trainer.Create(Small);
        var progress = new Reporter(p =>
        {
            if (p.Step == 3) cancel.Cancel();
        });
        Assert.False(trainer.Run(progress, cancellationToken: cancel.Token));
        Assert.Equal(3, trainer.Step);
        Assert.Equal(3, trainer.Losses.Count);
    }

    private sealed class Reporter(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
