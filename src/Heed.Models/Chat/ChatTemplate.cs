using System.Text;

namespace Heed.Models.Chat;

/// <summary>The conversation formats Heed recognises in a GGUF file's <c>tokenizer.chat_template</c>.</summary>
public enum ChatTemplateKind
{
    /// <summary>No known template: the messages' texts joined by newlines.</summary>
    Plain,

    /// <summary><c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>, then <c>&lt;|im_start|&gt;assistant\n</c>.</summary>
    ChatML,

    /// <summary><c>[INST] &lt;&lt;SYS&gt;&gt;\nsystem\n&lt;&lt;/SYS&gt;&gt;\n\nuser [/INST] assistant &lt;/s&gt;&lt;s&gt;[INST] …</c>.</summary>
    Llama2,

    /// <summary><c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt;</c>, then the assistant's header.</summary>
    Llama3,

    /// <summary><c>&lt;|role|&gt;\ncontent&lt;/s&gt;\n</c>, then <c>&lt;|assistant|&gt;\n</c>.</summary>
    Zephyr,

    /// <summary><c>&lt;start_of_turn&gt;user\ncontent&lt;end_of_turn&gt;\n</c> (the assistant is "model", a system text opens the first user turn), then <c>&lt;start_of_turn&gt;model\n</c>.</summary>
    Gemma,
}

/// <summary>
/// Chat templates recognised by their markers, as llama.cpp does, without a Jinja engine: a template is a known format
/// when its text holds that format's distinctive tokens; the conversation is then written in that format by hand.
/// </summary>
public static class ChatTemplate
{
    /// <summary>The format a Jinja chat template writes, by its markers (checked in this order); <see cref="ChatTemplateKind.Plain"/> when none match.</summary>
    public static ChatTemplateKind Detect(string? template) => template switch
    {
        null or "" => ChatTemplateKind.Plain,
        _ when template.Contains("<|im_start|>", StringComparison.Ordinal) => ChatTemplateKind.ChatML,
        _ when template.Contains("<|start_header_id|>", StringComparison.Ordinal) && template.Contains("<|end_header_id|>", StringComparison.Ordinal) => ChatTemplateKind.Llama3,
        _ when template.Contains("<start_of_turn>", StringComparison.Ordinal) => ChatTemplateKind.Gemma,
        _ when template.Contains("<|user|>", StringComparison.Ordinal) && template.Contains("<|assistant|>", StringComparison.Ordinal) => ChatTemplateKind.Zephyr,
        _ when template.Contains("[INST]", StringComparison.Ordinal) => ChatTemplateKind.Llama2,
        _ => ChatTemplateKind.Plain,
    };

    /// <summary>The text a format ends an assistant turn with, which generation stops at (null for plain text).</summary>
    public static string? EndOfTurn(ChatTemplateKind kind) => kind switch
    {
        ChatTemplateKind.ChatML => "<|im_end|>",
        ChatTemplateKind.Llama3 => "<|eot_id|>",
        ChatTemplateKind.Gemma => "<end_of_turn>",
        ChatTemplateKind.Zephyr or ChatTemplateKind.Llama2 => "</s>",
        _ => null,
    };

    /// <summary>
    /// The prompt for (role, text) messages, roles "system", "user" and "assistant", ending where the assistant's next
    /// turn begins.
    /// </summary>
    public static string Format(ChatTemplateKind kind, IReadOnlyList<(string Role, string Text)> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var s = new StringBuilder();
        switch (kind)
        {
            case ChatTemplateKind.ChatML:
                foreach ((string role, string text) in messages) s.Append("<|im_start|>").Append(role).Append('\n').Append(text).Append("<|im_end|>\n");
                return s.Append("<|im_start|>assistant\n").ToString();

            case ChatTemplateKind.Llama3:
                foreach ((string role, string text) in messages) s.Append("<|start_header_id|>").Append(role).Append("<|end_header_id|>\n\n").Append(text).Append("<|eot_id|>");
                return s.Append("<|start_header_id|>assistant<|end_header_id|>\n\n").ToString();

            case ChatTemplateKind.Zephyr:
                foreach ((string role, string text) in messages) s.Append("<|").Append(role).Append("|>\n").Append(text).Append("</s>\n");
                return s.Append("<|assistant|>\n").ToString();

            case ChatTemplateKind.Gemma:
                {
                    string pendingSystem = "";
                    foreach ((string role, string text) in messages)
                    {
                        if (role == "system")
                        {
                            pendingSystem += text + "\n\n";
                            continue;
                        }

                        s.Append("<start_of_turn>").Append(role == "assistant" ? "model" : role).Append('\n').Append(pendingSystem).Append(text).Append("<end_of_turn>\n");
                        pendingSystem = "";
                    }

                    return s.Append("<start_of_turn>model\n").ToString();
                }

            case ChatTemplateKind.Llama2:
                {
                    string system = "";
                    bool open = false;
                    foreach ((string role, string text) in messages)
                    {
                        switch (role)
                        {
                            case "system":
                                system += "<<SYS>>\n" + text + "\n<</SYS>>\n\n";
                                break;
                            case "assistant":
                                s.Append(' ').Append(text).Append(" </s>");
                                open = false;
                                break;
                            default:
                                s.Append(s.Length == 0 ? "[INST] " : "<s>[INST] ").Append(system).Append(text).Append(" [/INST]");
                                system = "";
                                open = true;
                                break;
                        }
                    }

                    return open || s.Length == 0 ? s.ToString() : s.Append("<s>[INST] ").Append(system).Append(" [/INST]").ToString();
                }

            default:
                return string.Join('\n', messages.Select(m => m.Text));
        }
    }
}
