using System.CommandLine;
using Heed.IO;

namespace Heed.Cli.Commands;

/// <summary><c>heed attention</c>: the ONNX Attention operator on .npy files. Flag names are the ONNX attribute names in kebab case.</summary>
internal static class AttentionCommand
{
    public static Command Create()
    {
        var q = new Option<string>("--q") { Description = "Q: [B, H, T, D] (4-D) or [B, T, H*D] (3-D with --q-num-heads/--kv-num-heads), .npy", Required = true };
        var k = new Option<string>("--k") { Description = "K: [B, Hkv, S, D] or [B, S, Hkv*D], .npy", Required = true };
        var v = new Option<string>("--v") { Description = "V: [B, Hkv, S, Dv] or [B, S, Hkv*Dv], .npy", Required = true };
        var mask = new Option<string?>("--attn-mask") { Description = "Mask broadcastable to [B, H, T, S]: bool (true = attend) or float (added to the scores); a short last axis masks the missing keys" };
        var pastKey = new Option<string?>("--past-key") { Description = "Cached keys [B, Hkv, P, D], prepended to K (needs --past-value)" };
        var pastValue = new Option<string?>("--past-value") { Description = "Cached values [B, Hkv, P, Dv], prepended to V (needs --past-key)" };
        var nonpad = new Option<string?>("--nonpad-kv-seqlen") { Description = "int64 [B]: keys at positions >= this length are masked per batch entry (not with a past cache)" };
        var causal = new Option<bool>("--is-causal") { Description = "Query i attends key j only if j <= i + offset (offset = P with a cache, nonpad_kv_seqlen - T with it, else 0)" };
        var scale = new Option<double?>("--scale") { Description = "Factor on Q*K^T (default 1/sqrt(D))" };
        var softcap = new Option<double>("--softcap") { Description = "When > 0, scores become softcap*tanh(scores/softcap) before masking", DefaultValueFactory = _ => 0 };
        var qHeads = new Option<int?>("--q-num-heads") { Description = "H, query heads of 3-D inputs (required for 3-D, refused for 4-D)" };
        var kvHeads = new Option<int?>("--kv-num-heads") { Description = "Hkv, key/value heads of 3-D inputs (required for 3-D, refused for 4-D)" };
        var left = new Option<int>("--left-window-size") { Description = "Keys more than N positions before the query are masked (-1 = unbounded)", DefaultValueFactory = _ => -1 };
        var right = new Option<int>("--right-window-size") { Description = "Keys more than N positions after the query are masked (-1 = unbounded)", DefaultValueFactory = _ => -1 };
        var mode = new Option<int>("--qk-matmul-output-mode") { Description = "What --qk-matmul-output holds: 0 scaled scores, 1 after softcap, 2 after softcap and mask, 3 softmax probabilities", DefaultValueFactory = _ => 0 };
        var precision = new Option<string?>("--softmax-precision") { Description = "Type the softmax is computed in: float, float16, double or bfloat16 (default: the input type, at least float)" };
        precision.AcceptOnlyFromAmong("float", "float16", "double", "bfloat16");
        var output = new Option<string>("--out") { Description = "Y: [B, H, T, Dv] or [B, T, H*Dv], in Q's element type, .npy", Required = true };
        var presentKey = new Option<string?>("--present-key") { Description = "Write concat(past_key, K) [B, Hkv, S, D] here" };
        var presentValue = new Option<string?>("--present-value") { Description = "Write concat(past_value, V) [B, Hkv, S, Dv] here" };
        var qkOutput = new Option<string?>("--qk-matmul-output") { Description = "Write the [B, H, T, S] matrix chosen by --qk-matmul-output-mode here" };
        var gradOutput = new Option<string?>("--grad-output") { Description = "dY, the gradient of a loss with respect to Y (Y's shape), .npy: runs the backward pass (no past cache)" };
        var gradQ = new Option<string?>("--out-grad-q") { Description = "With --grad-output: write dQ (Q's shape and type) here" };
        var gradK = new Option<string?>("--out-grad-k") { Description = "With --grad-output: write dK (K's shape and type; summed over the query heads sharing each kv head) here" };
        var gradV = new Option<string?>("--out-grad-v") { Description = "With --grad-output: write dV (V's shape and type; summed like dK) here" };
        var reference = new Option<bool>("--reference") { Description = "Run the float64 reference implementation (forward and backward) instead of the fastest kernel" };
        var threads = CommonOptions.Threads("Most threads to use");

        var command = new Command("attention", "Run the ONNX Attention operator (opsets 23-25) on .npy files.")
        {
            q, k, v, mask, pastKey, pastValue, nonpad, causal, scale, softcap, qHeads, kvHeads, left, right, mode, precision,
            output, presentKey, presentValue, qkOutput, gradOutput, gradQ, gradK, gradV, reference, threads,
        };

        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            int modeValue = parse.GetValue(mode);
            if (modeValue is < 0 or > 3)
            {
                throw new HeedException($"--qk-matmul-output-mode {modeValue}: expected 0, 1, 2 or 3");
            }

            string outPath = parse.GetValue(output)!;
            string? presentKeyPath = parse.GetValue(presentKey), presentValuePath = parse.GetValue(presentValue), qkPath = parse.GetValue(qkOutput);
            string? gradOutputPath = parse.GetValue(gradOutput);
            string? gradQPath = parse.GetValue(gradQ), gradKPath = parse.GetValue(gradK), gradVPath = parse.GetValue(gradV);
            if (gradOutputPath is null && (gradQPath ?? gradKPath ?? gradVPath) is not null)
            {
                throw new HeedException("--out-grad-q, --out-grad-k and --out-grad-v need --grad-output (dY)");
            }

            if (gradOutputPath is not null && (parse.GetValue(pastKey) ?? parse.GetValue(pastValue)) is not null)
            {
                throw new HeedException("--grad-output with --past-key/--past-value: the cache is not differentiated; concatenate it into --k and --v instead");
            }

            OutputFiles.CheckFolders([("--out", outPath), ("--present-key", presentKeyPath), ("--present-value", presentValuePath), ("--qk-matmul-output", qkPath),
                ("--out-grad-q", gradQPath), ("--out-grad-k", gradKPath), ("--out-grad-v", gradVPath)]);

            var inputs = new AttentionInputs(Load("--q", parse.GetValue(q)!), Load("--k", parse.GetValue(k)!), Load("--v", parse.GetValue(v)!))
            {
                AttnMask = LoadOptional("--attn-mask", parse.GetValue(mask)),
                PastKey = LoadOptional("--past-key", parse.GetValue(pastKey)),
                PastValue = LoadOptional("--past-value", parse.GetValue(pastValue)),
                NonpadKvSeqlen = LoadOptional("--nonpad-kv-seqlen", parse.GetValue(nonpad)),
            };
            var options = new AttentionOptions
            {
                QNumHeads = parse.GetValue(qHeads),
                KvNumHeads = parse.GetValue(kvHeads),
                Scale = parse.GetValue(scale),
                IsCausal = parse.GetValue(causal),
                Softcap = parse.GetValue(softcap),
                LeftWindowSize = parse.GetValue(left),
                RightWindowSize = parse.GetValue(right),
                ComputeQkMatmulOutput = qkPath is not null,
                QkMatmulOutputMode = (QkMatmulOutputMode)modeValue,
                SoftmaxPrecision = ParsePrecision(parse.GetValue(precision)),
                UseReference = parse.GetValue(reference),
                MaxThreads = parse.GetValue(threads),
            };

            TextWriter console = parse.InvocationConfiguration.Output;
            if (gradOutputPath is not null)
            {
                Tensor dy = Load("--grad-output", gradOutputPath);
                AttentionGradients grads = Attention.Backward(inputs, dy, options);
                var gradFiles = new List<(string, string, Tensor)> { ("--out", outPath, grads.Output) };
                if (gradQPath is not null) gradFiles.Add(("--out-grad-q", gradQPath, grads.GradQuery));
                if (gradKPath is not null) gradFiles.Add(("--out-grad-k", gradKPath, grads.GradKey));
                if (gradVPath is not null) gradFiles.Add(("--out-grad-v", gradVPath, grads.GradValue));
                if ((presentKeyPath ?? presentValuePath ?? qkPath) is not null || options.SoftmaxPrecision is not null)
                {
                    // The forward's optional outputs come from the forward itself (the backward keeps none of them), and so does
                    // Y when a softmax_precision rounds the forward's probabilities (the backward computes at least in float32).
                    AttentionResult forward = Attention.Compute(inputs, options);
                    gradFiles[0] = ("--out", outPath, forward.Output);
                    if (presentKeyPath is not null) gradFiles.Add(("--present-key", presentKeyPath, forward.PresentKey));
                    if (presentValuePath is not null) gradFiles.Add(("--present-value", presentValuePath, forward.PresentValue));
                    if (qkPath is not null) gradFiles.Add(("--qk-matmul-output", qkPath, forward.QkMatmulOutput!));
                }

                OutputFiles.WriteAll(gradFiles);
                console.WriteLine($"Y {DTypes.Name(grads.Output.DType)} {grads.Output.ShapeText} -> {outPath}");
                if (gradQPath is not null) console.WriteLine($"dQ {DTypes.Name(grads.GradQuery.DType)} {grads.GradQuery.ShapeText} -> {gradQPath}");
                if (gradKPath is not null) console.WriteLine($"dK {DTypes.Name(grads.GradKey.DType)} {grads.GradKey.ShapeText} -> {gradKPath}");
                if (gradVPath is not null) console.WriteLine($"dV {DTypes.Name(grads.GradValue.DType)} {grads.GradValue.ShapeText} -> {gradVPath}");
                return 0;
            }

            AttentionResult result = Attention.Compute(inputs, options);
            var files = new List<(string, string, Tensor)> { ("--out", outPath, result.Output) };
            if (presentKeyPath is not null) files.Add(("--present-key", presentKeyPath, result.PresentKey));
            if (presentValuePath is not null) files.Add(("--present-value", presentValuePath, result.PresentValue));
            if (qkPath is not null) files.Add(("--qk-matmul-output", qkPath, result.QkMatmulOutput!));
            OutputFiles.WriteAll(files);
            console.WriteLine($"Y {DTypes.Name(result.Output.DType)} {result.Output.ShapeText} -> {outPath}");
            return 0;
        }));
        return command;
    }

    private static SoftmaxPrecision? ParsePrecision(string? name) => name switch
    {
        null => null,
        "float" => SoftmaxPrecision.Float,
        "float16" => SoftmaxPrecision.Float16,
        "double" => SoftmaxPrecision.Double,
        "bfloat16" => SoftmaxPrecision.BFloat16,
        _ => throw new HeedException($"--softmax-precision {name}: expected float, float16, double or bfloat16"),
    };

    private static Tensor? LoadOptional(string flag, string? path) => path is null ? null : Load(flag, path);

    private static Tensor Load(string flag, string path)
    {
        try
        {
            return Npy.Read(path);
        }
        catch (HeedException ex)
        {
            throw new HeedException($"{flag}: {ex.Message}", ex);
        }
    }
}
