using System.CommandLine;

namespace Heed.Cli.Commands;

/// <summary>
/// <c>heed completion bash|zsh|pwsh</c>: a script that makes the shell complete heed's verbs, options and option values. Each
/// script asks heed itself through System.CommandLine's <c>[suggest:POSITION]</c> directive, so completions always match the
/// installed version and nothing needs to be regenerated after an update.
/// </summary>
internal static class CompletionCommand
{
    private const string Bash = """
        # heed completion for bash: source this file, or put it in ~/.local/share/bash-completion/completions/heed
        _heed_complete() {
            local IFS=$'\n'
            local line="${COMP_LINE:0:$COMP_POINT}"
            COMPREPLY=($(heed "[suggest:${#line}]" "$line" 2>/dev/null))
        }
        complete -o default -F _heed_complete heed

        """;

    private const string Zsh = """
        #compdef heed
        # heed completion for zsh: source this file from ~/.zshrc, or save it as _heed in a folder of $fpath
        _heed() {
            local -a suggestions
            local line="${BUFFER[1,CURSOR]}"
            suggestions=("${(@f)$(heed "[suggest:${#line}]" "$line" 2>/dev/null)}")
            compadd -Q -- "${suggestions[@]}"
        }
        if (( $+functions[compdef] )); then compdef _heed heed; fi

        """;

    private const string PowerShell = """
        # heed completion for PowerShell: add this to your profile ($PROFILE)
        Register-ArgumentCompleter -Native -CommandName heed -ScriptBlock {
            param($wordToComplete, $commandAst, $cursorPosition)
            $line = $commandAst.ToString()
            $position = $cursorPosition - $commandAst.Extent.StartOffset
            heed "[suggest:$position]" "$line" 2>$null | ForEach-Object {
                [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
            }
        }

        """;

    public static Command Create()
    {
        var shell = new Argument<string>("shell") { Description = "bash, zsh or pwsh" };
        shell.AcceptOnlyFromAmong("bash", "zsh", "pwsh");
        var command = new Command("completion", "Print a script that makes bash, zsh or PowerShell complete heed's verbs, options and values: 'source <(heed completion bash)'.")
        {
            shell,
        };
        command.SetAction(parse =>
        {
            parse.InvocationConfiguration.Output.Write(parse.GetValue(shell) switch
            {
                "bash" => Bash,
                "zsh" => Zsh,
                _ => PowerShell,
            });
            return 0;
        });
        return command;
    }
}
