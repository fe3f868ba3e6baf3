namespace Heed.Models.Chat;

/// <summary>
/// The conversation formats Heed writes: those llama.cpp's <c>llama_chat_apply_template</c> writes for the chat
/// templates of llama-architecture models (names as llama.cpp's, e.g. "llama2-sys-bos").
/// </summary>
public enum ChatTemplateKind
{
    /// <summary>No known template: the messages' texts joined by newlines.</summary>
    Plain,

    /// <summary><c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>, then <c>&lt;|im_start|&gt;assistant\n</c>.</summary>
    ChatML,

    /// <summary>Phi-4: ChatML with <c>&lt;|im_sep|&gt;</c> after the role and no newlines.</summary>
    Phi4,

    /// <summary><c>[INST] user [/INST]assistant&lt;/s&gt;[INST] …</c>; a system text opens the first turn as plain text and a newline.</summary>
    Llama2,

    /// <summary>As <see cref="Llama2"/>, a system text in <c>&lt;&lt;SYS&gt;&gt;\n…\n&lt;&lt;/SYS&gt;&gt;\n\n</c>.</summary>
    Llama2Sys,

    /// <summary>As <see cref="Llama2Sys"/>, every turn after the first opened by <c>&lt;s&gt;</c>.</summary>
    Llama2SysBos,

    /// <summary>As <see cref="Llama2Sys"/>, every message's text trimmed.</summary>
    Llama2SysStrip,

    /// <summary>Mistral v1: <c> [INST] user [/INST] assistant&lt;/s&gt;</c>, a system text first in the turn with two newlines.</summary>
    MistralV1,

    /// <summary>Mistral v3: <c>[INST] user[/INST] assistant&lt;/s&gt;</c>, the assistant's text trimmed.</summary>
    MistralV3,

    /// <summary>Mistral v3 Tekken: <c>[INST]user[/INST]assistant&lt;/s&gt;</c>.</summary>
    MistralV3Tekken,

    /// <summary>Mistral v7: <c>[SYSTEM_PROMPT] system[/SYSTEM_PROMPT][INST] user[/INST] assistant&lt;/s&gt;</c>.</summary>
    MistralV7,

    /// <summary>Mistral v7 Tekken: as v7 without the spaces.</summary>
    MistralV7Tekken,

    /// <summary>Phi-3: <c>&lt;|role|&gt;\ncontent&lt;|end|&gt;\n</c>, then <c>&lt;|assistant|&gt;\n</c>.</summary>
    Phi3,

    /// <summary>Falcon 3: <c>&lt;|role|&gt;\ncontent\n</c>, then <c>&lt;|assistant|&gt;\n</c>.</summary>
    Falcon3,

    /// <summary>GLM-Edge: <c>&lt;|role|&gt;\ncontent</c>, then <c>&lt;|assistant|&gt;</c>.</summary>
    GlmEdge,

    /// <summary><c>&lt;|role|&gt;\ncontent&lt;|endoftext|&gt;\n</c>, then <c>&lt;|assistant|&gt;\n</c>.</summary>
    Zephyr,

    /// <summary>AlphaMonarch: <c>role\ncontent&lt;/s&gt;\n</c>, each message after the first opened by <c>&lt;s&gt;</c>, then <c>&lt;s&gt;assistant\n</c>.</summary>
    Monarch,

    /// <summary><c>&lt;start_of_turn&gt;user\ncontent&lt;end_of_turn&gt;\n</c> (the assistant is "model", system texts open the next user turn, texts trimmed), then <c>&lt;start_of_turn&gt;model\n</c>.</summary>
    Gemma,

    /// <summary>OpenChat 3.5: <c>GPT4 Correct User: content&lt;|end_of_turn|&gt;</c>, then <c>GPT4 Correct Assistant:</c>.</summary>
    OpenChat,

    /// <summary>Vicuna 1.1: <c>USER: content\nASSISTANT: content&lt;/s&gt;\n</c>, then <c>ASSISTANT:</c>.</summary>
    Vicuna,

    /// <summary>Orca-Vicuna: as <see cref="Vicuna"/>, a system text as <c>SYSTEM: content\n</c>.</summary>
    VicunaOrca,

    /// <summary>DeepSeek Coder: <c>### Instruction:\ncontent\n### Response:\ncontent\n&lt;|EOT|&gt;\n</c>, then <c>### Response:\n</c>.</summary>
    DeepSeek,

    /// <summary><c>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt;</c> (texts trimmed), then the assistant's header.</summary>
    Llama3,
}

/// <summary>
/// Chat templates recognised by their markers without a Jinja engine, in llama.cpp's order and by llama.cpp's tests
/// (<c>llm_chat_detect_template</c>), and conversations written in the recognised format as llama.cpp writes them. A
/// template llama.cpp recognises as a format Heed does not write (Command R, ChatGLM, Granite, …) is
/// <see cref="ChatTemplateKind.Plain"/>, as is one nobody recognises.
/// </summary>
public static class ChatTemplate
{
    // llama.cpp's names, which a template may be given as instead of its Jinja text.
    private static readonly Dictionary<string, ChatTemplateKind> Names = new(StringComparer.Ordinal)
    {
        ["chatml"] = ChatTemplateKind.ChatML,
        ["phi4"] = ChatTemplateKind.Phi4,
        ["llama2"] = ChatTemplateKind.Llama2,
        ["llama2-sys"] = ChatTemplateKind.Llama2Sys,
        ["llama2-sys-bos"] = ChatTemplateKind.Llama2SysBos,
        ["llama2-sys-strip"] = ChatTemplateKind.Llama2SysStrip,
        ["mistral-v1"] = ChatTemplateKind.MistralV1,
        ["mistral-v3"] = ChatTemplateKind.MistralV3,
        ["mistral-v3-tekken"] = ChatTemplateKind.MistralV3Tekken,
        ["mistral-v7"] = ChatTemplateKind.MistralV7,
        ["mistral-v7-tekken"] = ChatTemplateKind.MistralV7Tekken,
        ["phi3"] = ChatTemplateKind.Phi3,
        ["falcon3"] = ChatTemplateKind.Falcon3,
        ["glmedge"] = ChatTemplateKind.GlmEdge,
        ["zephyr"] = ChatTemplateKind.Zephyr,
        ["monarch"] = ChatTemplateKind.Monarch,
        ["gemma"] = ChatTemplateKind.Gemma,
        ["openchat"] = ChatTemplateKind.OpenChat,
        ["vicuna"] = ChatTemplateKind.Vicuna,
        ["vicuna-orca"] = ChatTemplateKind.VicunaOrca,
        ["deepseek"] = ChatTemplateKind.DeepSeek,
        ["llama3"] = ChatTemplateKind.Llama3,
    };

    /// <summary>The format a Jinja chat template (or one of llama.cpp's template names) writes; <see cref="ChatTemplateKind.Plain"/> when none.</summary>
    public static ChatTemplateKind Detect(string? template)
    {
        if (string.IsNullOrEmpty(template)) return ChatTemplateKind.Plain;
        if (Names.TryGetValue(template, out ChatTemplateKind named)) return named;
        bool Has(string marker) => template.Contains(marker, StringComparison.Ordinal);
        if (Has("<|im_start|>"))
        {
            return Has("<|im_sep|>") ? ChatTemplateKind.Phi4 : Has("<end_of_utterance>") ? ChatTemplateKind.Plain : ChatTemplateKind.ChatML;
        }

        if (template.StartsWith("mistral", StringComparison.Ordinal) || Has("[INST]"))
        {
            if (Has("[SYSTEM_PROMPT]")) return ChatTemplateKind.MistralV7;
            if (Has("' [INST] ' + system_message") || Has("[AVAILABLE_TOOLS]"))
            {
                return Has(" [INST]") ? ChatTemplateKind.MistralV1 : Has("\"[INST]\"") ? ChatTemplateKind.MistralV3Tekken : ChatTemplateKind.MistralV3;
            }

            return Has("content.strip()") ? ChatTemplateKind.Llama2SysStrip
                : Has("bos_token + '[INST]") ? ChatTemplateKind.Llama2SysBos
                : Has("<<SYS>>") ? ChatTemplateKind.Llama2Sys
                : ChatTemplateKind.Llama2;
        }

        if (Has("<|assistant|>") && Has("<|end|>")) return ChatTemplateKind.Phi3;
        if (Has("[gMASK]<sop>")) return ChatTemplateKind.Plain; // ChatGLM 4
        if (Has("<|assistant|>") && Has("<|user|>")) return Has("</s>") ? ChatTemplateKind.Falcon3 : ChatTemplateKind.GlmEdge;
        if (Has("<|{{ item['role'] }}|>") && Has("<|begin_of_image|>")) return ChatTemplateKind.GlmEdge;
        if (Has("<|user|>") && Has("<|endoftext|>")) return ChatTemplateKind.Zephyr;
        if (Has("bos_token + message['role']")) return ChatTemplateKind.Monarch;
        if (Has("<start_of_turn>")) return ChatTemplateKind.Gemma;
        if (Has("'\\n\\nAssistant: ' + eos_token")) return ChatTemplateKind.Plain; // Orion
        if (Has("GPT4 Correct ")) return ChatTemplateKind.OpenChat;
        if (Has("USER: ") && Has("ASSISTANT: ")) return Has("SYSTEM: ") ? ChatTemplateKind.VicunaOrca : ChatTemplateKind.Vicuna;
        if (Has("### Instruction:") && Has("<|EOT|>")) return ChatTemplateKind.DeepSeek;
        if (Has("<|START_OF_TURN_TOKEN|>") && Has("<|USER_TOKEN|>")) return ChatTemplateKind.Plain; // Command R
        return Has("<|start_header_id|>") && Has("<|end_header_id|>") ? ChatTemplateKind.Llama3 : ChatTemplateKind.Plain;
    }

    /// <summary>The text a format ends an assistant turn with, which generation stops at (null for none).</summary>
    public static string? EndOfTurn(ChatTemplateKind kind) => kind switch
    {
        ChatTemplateKind.ChatML or ChatTemplateKind.Phi4 => "<|im_end|>",
        ChatTemplateKind.Llama3 => "<|eot_id|>",
        ChatTemplateKind.Gemma => "<end_of_turn>",
        ChatTemplateKind.Phi3 => "<|end|>",
        ChatTemplateKind.Zephyr => "<|endoftext|>",
        ChatTemplateKind.OpenChat => "<|end_of_turn|>",
        ChatTemplateKind.DeepSeek => "<|EOT|>",
        ChatTemplateKind.Falcon3 or ChatTemplateKind.GlmEdge => "<|user|>",
        ChatTemplateKind.Plain => null,
        _ => "</s>",
    };

    /// <summary>
    /// The prompt for (role, text) messages, roles "system", "user" and "assistant" (others kept as written where the
    /// format names roles), ending where the assistant's next turn begins when the format has such a turn: the string
    /// llama.cpp's <c>llama_chat_apply_template</c> writes with <c>add_ass</c>.
    /// </summary>
    public static string Format(ChatTemplateKind kind, IReadOnlyList<(string Role, string Text)> messages) =>
        string.Concat(Parts(kind, messages).Select(p => p.Text));

    /// <summary>
    /// The prompt of <see cref="Format"/> in parts: the format's own text (markers such as "&lt;|im_start|&gt;",
    /// newlines, the roles; <c>Markup</c> true), whose special-token texts a tokenizer turns into those tokens, and the
    /// messages' texts (<c>Markup</c> false), which it encodes as text even where they spell a special token.
    /// </summary>
    public static IReadOnlyList<(string Text, bool Markup)> Parts(ChatTemplateKind kind, IReadOnlyList<(string Role, string Text)> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var parts = new List<(string Text, bool Markup)>();
        void M(string text) => parts.Add((text, true));
        void C(string text) => parts.Add((text, false));

        // Each system, user and assistant message between the markup of its role; other roles are left out.
        void Turns((string Before, string After) system, (string Before, string After) user, (string Before, string After) assistant)
        {
            foreach ((string role, string text) in messages)
            {
                if (role switch { "system" => system, "user" => user, "assistant" => assistant, _ => ((string, string)?)null } is not (string before, string after)) continue;
                M(before);
                C(text);
                M(after);
            }
        }

        // C's isspace, as llama.cpp trims.
        static string Trim(string text) => text.Trim(' ', '\t', '\n', '\v', '\f', '\r');
        switch (kind)
        {
            case ChatTemplateKind.ChatML or ChatTemplateKind.Phi4:
                {
                    string separator = kind == ChatTemplateKind.Phi4 ? "<|im_sep|>" : "\n", end = kind == ChatTemplateKind.Phi4 ? "<|im_end|>" : "<|im_end|>\n";
                    foreach ((string role, string text) in messages)
                    {
                        M("<|im_start|>" + role + separator);
                        C(text);
                        M(end);
                    }

                    M("<|im_start|>assistant" + separator);
                    break;
                }

            case ChatTemplateKind.MistralV7 or ChatTemplateKind.MistralV7Tekken:
                {
                    string space = kind == ChatTemplateKind.MistralV7 ? " " : "";
                    foreach ((string role, string text) in messages)
                    {
                        M(role switch { "system" => "[SYSTEM_PROMPT]" + space, "user" => "[INST]" + space, _ => space });
                        C(text);
                        M(role switch { "system" => "[/SYSTEM_PROMPT]", "user" => "[/INST]", _ => "</s>" });
                    }

                    break;
                }

            case ChatTemplateKind.MistralV1 or ChatTemplateKind.MistralV3 or ChatTemplateKind.MistralV3Tekken:
                {
                    string leading = kind == ChatTemplateKind.MistralV1 ? " " : "", trailing = kind == ChatTemplateKind.MistralV3Tekken ? "" : " ";
                    bool inside = false;
                    foreach ((string role, string text) in messages)
                    {
                        if (!inside)
                        {
                            M(leading + "[INST]" + trailing);
                            inside = true;
                        }

                        switch (role)
                        {
                            case "system":
                                C(text);
                                M("\n\n");
                                break;
                            case "user":
                                C(text);
                                M(leading + "[/INST]");
                                break;
                            default:
                                M(trailing);
                                C(kind == ChatTemplateKind.MistralV3 ? Trim(text) : text);
                                M("</s>");
                                inside = false;
                                break;
                        }
                    }

                    break;
                }

            case ChatTemplateKind.Llama2 or ChatTemplateKind.Llama2Sys or ChatTemplateKind.Llama2SysBos or ChatTemplateKind.Llama2SysStrip:
                {
                    bool inside = true;
                    M("[INST] ");
                    foreach ((string role, string message) in messages)
                    {
                        string text = kind == ChatTemplateKind.Llama2SysStrip ? Trim(message) : message;
                        if (!inside)
                        {
                            inside = true;
                            M(kind == ChatTemplateKind.Llama2SysBos ? "<s>[INST] " : "[INST] ");
                        }

                        switch (role)
                        {
                            case "system" when kind == ChatTemplateKind.Llama2:
                                C(text);
                                M("\n");
                                break;
                            case "system":
                                M("<<SYS>>\n");
                                C(text);
                                M("\n<</SYS>>\n\n");
                                break;
                            case "user":
                                C(text);
                                M(" [/INST]");
                                break;
                            default:
                                C(text);
                                M("</s>");
                                inside = false;
                                break;
                        }
                    }

                    break;
                }

            case ChatTemplateKind.Phi3 or ChatTemplateKind.Falcon3 or ChatTemplateKind.GlmEdge or ChatTemplateKind.Zephyr:
                {
                    string end = kind switch { ChatTemplateKind.Phi3 => "<|end|>\n", ChatTemplateKind.Falcon3 => "\n", ChatTemplateKind.Zephyr => "<|endoftext|>\n", _ => "" };
                    foreach ((string role, string text) in messages)
                    {
                        M("<|" + role + "|>\n");
                        C(text);
                        M(end);
                    }

                    M(kind == ChatTemplateKind.GlmEdge ? "<|assistant|>" : "<|assistant|>\n");
                    break;
                }

            case ChatTemplateKind.Monarch:
                for (int i = 0; i < messages.Count; i++)
                {
                    M((i > 0 ? "<s>" : "") + messages[i].Role + "\n");
                    C(messages[i].Text);
                    M("</s>\n");
                }

                M("<s>assistant\n");
                break;

            case ChatTemplateKind.Gemma:
                {
                    string system = "";
                    foreach ((string role, string text) in messages)
                    {
                        if (role == "system")
                        {
                            system += Trim(text);
                            continue;
                        }

                        string turn = role == "assistant" ? "model" : role;
                        M("<start_of_turn>" + turn + "\n");
                        if (system.Length > 0 && turn != "model")
                        {
                            C(system);
                            M("\n\n");
                            system = "";
                        }

                        C(Trim(text));
                        M("<end_of_turn>\n");
                    }

                    M("<start_of_turn>model\n");
                    break;
                }

            case ChatTemplateKind.OpenChat:
                foreach ((string role, string text) in messages)
                {
                    if (role != "system")
                    {
                        M("GPT4 Correct " + (role.Length == 0 ? role : char.ToUpperInvariant(role[0]) + role[1..]) + ": ");
                    }

                    C(text);
                    M("<|end_of_turn|>");
                }

                M("GPT4 Correct Assistant:");
                break;

            case ChatTemplateKind.Vicuna or ChatTemplateKind.VicunaOrca:
                Turns(kind == ChatTemplateKind.VicunaOrca ? ("SYSTEM: ", "\n") : ("", "\n\n"), ("USER: ", "\n"), ("ASSISTANT: ", "</s>\n"));
                M("ASSISTANT:");
                break;

            case ChatTemplateKind.DeepSeek:
                Turns(("", ""), ("### Instruction:\n", "\n"), ("### Response:\n", "\n<|EOT|>\n"));
                M("### Response:\n");
                break;

            case ChatTemplateKind.Llama3:
                foreach ((string role, string text) in messages)
                {
                    M("<|start_header_id|>" + role + "<|end_header_id|>\n\n");
                    C(Trim(text));
                    M("<|eot_id|>");
                }

                M("<|start_header_id|>assistant<|end_header_id|>\n\n");
                break;

            default:
                for (int i = 0; i < messages.Count; i++)
                {
                    if (i > 0) M("\n");
                    C(messages[i].Text);
                }

                break;
        }

        parts.RemoveAll(p => p.Text.Length == 0);
        return parts;
    }
}
