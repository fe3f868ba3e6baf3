using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using Heed.Models;
using Heed.Models.Tokenizers;

namespace Heed.Cli.Commands;

/// <summary><c>heed tokenize</c>: the token ids and pieces of a text.</summary>
internal static class TokenizeCommand
{
    // Pieces are shown as JSON strings so spaces, newlines and control bytes are visible; other text stays readable.
    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "tok*.bin, a GPT-2 folder or vocab.json, or a .gguf vocabulary", Required = true };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not put BOS first (llama tokenizers put it by default)" };
        var idsOnly = new Option<bool>("--ids") { Description = "Print only the ids, on one line" };
        var text = new Argument<string>("text") { Description = "The text to tokenize" };
        var command = new Command("tokenize", "Print the token ids and pieces of a text: one line per token, id then the piece as a JSON string.")
        {
            tokenizer, noBos, idsOnly, text,
        };
        command.SetAction(parse => CliErrors.Guard(parse.InvocationConfiguration.Error, () =>
        {
            ITokenizer tok = ModelFiles.LoadTokenizer(parse.GetValue(tokenizer)!);
            bool bos = tok.PrependsBos && !parse.GetValue(noBos);
            int[] ids = tok.Encode(parse.GetValue(text)!, bos, addEos: false);
            TextWriter output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(idsOnly))
            {
                output.WriteLine(string.Join(' ', ids));
                return 0;
            }

            foreach (int id in ids)
            {
                output.WriteLine($"{id}\t{JsonSerializer.Serialize(Piece(tok, id), Json)}");
            }

            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The piece as the tokenizer stores it, except BOS and EOS: llama2.c's tok*.bin stores them as "\n&lt;s&gt;\n" and
    /// "\n&lt;/s&gt;\n", newlines that never reach the text; they print as &lt;s&gt; and &lt;/s&gt;.
    /// </summary>
    internal static string Piece(ITokenizer tokenizer, int id)
    {
        string piece = tokenizer.PieceText(id);
        string trimmed = piece.Trim();
        bool marker = trimmed.Length > 2 && trimmed[0] == '<' && trimmed[^1] == '>' && piece.StartsWith('\n') && piece.EndsWith('\n');
        return marker || (id == tokenizer.BosId && trimmed.Length > 0) ? trimmed : piece;
    }
}
