using Heed.Models.Generation;
using Heed.Models.Gpt2;
using Heed.Models.Llama;

namespace Heed.Models.Tests;

/// <summary>Cancelling a forward pass between layers: later layers do not run and the session is left as it was.</summary>
public class CancellationTests
{
    public static TheoryData<string, int> Cases => new()
    {
        { "llama", -1 }, // cancelled before the call: no layer runs
        { "llama", 0 },
        { "llama", 1 },
        { "gpt2", -1 },
        { "gpt2", 0 },
    };

    private static ICausalLanguageModel Model(string architecture)
    {
        if (architecture == "gpt2") return Gpt2Model.Load(TestPaths.TestData("gpt2-tiny"));
        using var folder = new TempFolder();
        string path = folder.File("tiny.bin");
        File.WriteAllBytes(path, LlamaCheckpointTests.Write(16, 24, 3, 4, 2, 40, 16, shared: true, seed: 5));
        return LlamaModel.Load(path);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_token_cancelled_after_a_layer_stops_the_pass_before_the_next_layer(string architecture, int cancelAfterLayer)
    {
        ICausalLanguageModel model = Model(architecture);
        int[] tokens = [1, 9, 4, 22, 3];
        using var cancellation = new CancellationTokenSource();
        if (cancelAfterLayer < 0) cancellation.Cancel();
        var recorder = new AttentionRecorder(onRecord: record =>
        {
            if (record.Layer == cancelAfterLayer) cancellation.Cancel();
        });
        DecoderSession session = model.CreateSession(8);
        session.Recorder = recorder;

        Assert.ThrowsAny<OperationCanceledException>(() => session.ForwardAll(tokens, cancellation.Token));

        // Layers 0..cancelAfterLayer ran (their attention was recorded); none after them.
        Assert.Equal(Enumerable.Range(0, cancelAfterLayer + 1), recorder.Records.Select(r => r.Layer));
        Assert.True(model.NumLayers > cancelAfterLayer + 1, "the model must have a layer after the cancelled one");
        Assert.Equal(0, session.Position); // nothing committed to the cache

        // The same session runs the tokens again as if the cancelled call had never happened.
        session.Recorder = null;
        Tensor<float> again = session.ForwardAll(tokens);
        Tensor<float> fresh = model.Forward(tokens).Logits;
        Assert.Equal(0, Assertions.MaxDiff(again.Data, fresh.Data));
        Assert.Equal(tokens.Length, session.Position);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Whole_sequence_forward_and_decode_steps_honour_the_token(string architecture)
    {
        ICausalLanguageModel model = Model(architecture);
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => model.Forward([1, 2, 3], new AttentionCaptureOptions(), cancellation.Token));
        DecoderSession session = model.CreateSession(4);
        session.Forward([1, 2]);
        Assert.ThrowsAny<OperationCanceledException>(() => session.Forward([3], cancellation.Token).ToArray());
        Assert.Equal(2, session.Position);
    }
}
