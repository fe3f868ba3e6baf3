using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using Heed.Cli.Commands;

namespace Heed.Cli;

/// <summary>The <c>heed</c> command: one verb per file under Commands/.</summary>
internal static partial class HeedCli
{
    /// <summary>Builds the command tree.</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("Heed: exact, fast and explainable attention (ONNX Attention and PyTorch SDPA semantics) in .NET.");
        root.Subcommands.Add(AttentionCommand.Create());
        root.Subcommands.Add(ExplainCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(EmbedCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(PullCommand.Create());
        root.Subcommands.Add(LookupCommand.Create());
        root.Subcommands.Add(ShowCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(McpCommand.Create());
        root.Subcommands.Add(ServiceCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(CompletionCommand.Create());
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>, writing to the given streams; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        RootCommand root = CreateRoot();
        var configuration = new InvocationConfiguration { Output = output, Error = error };
        ParseResult parse = root.Parse(args);
        Command command = parse.CommandResult.Command;

        // A bare 'heed' (or a bare group such as 'heed bench') is a request for the help, not a mistake.
        if (command.Action is null && command.Subcommands.Count > 0 && parse.Tokens.All(t => t.Type == TokenType.Command))
        {
            return root.Parse([.. CommandPath(command).Skip(1), "--help"]).Invoke(configuration);
        }

        if (parse.Errors.Count > 0)
        {
            error.WriteLine($"heed: error: {ParseProblem(parse)}");
            return CliErrors.BadInput;
        }

        return parse.Invoke(configuration);
    }

    /// <summary>The one line that describes what is wrong with the command line: the first unknown word, else the first bad value, else every missing option.</summary>
    internal static string ParseProblem(ParseResult parse)
    {
        Command command = parse.CommandResult.Command;
        string name = string.Join(' ', CommandPath(command));
        if (parse.UnmatchedTokens.Count > 0)
        {
            string token = parse.UnmatchedTokens[0];
            if (token.StartsWith('-') && token.Length > 1 && !double.TryParse(token, out _))
            {
                string typed = token.Split('=', ':')[0];
                IEnumerable<string> names = command.Options.Where(o => !o.Hidden && o is not System.CommandLine.Help.HelpOption and not VersionOption)
                    .SelectMany(o => o.Aliases.Prepend(o.Name)).Where(a => a.StartsWith("--", StringComparison.Ordinal));
                return Closest(typed, names) is string option
                    ? $"unknown option '{typed}' for '{name}' (did you mean '{option}'?)"
                    : $"unknown option '{typed}' for '{name}'; see '{name} --help'";
            }

            if (command.Subcommands.Count > 0)
            {
                return Closest(token, command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name)) is string verb
                    ? $"unknown command '{token}' for '{name}' (did you mean '{verb}'?)"
                    : $"unknown command '{token}' for '{name}'; the commands are {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}";
            }

            return $"unexpected argument '{token}' for '{name}'; see '{name} --help'";
        }

        foreach (ParseError problem in parse.Errors)
        {
            switch (problem.SymbolResult)
            {
                case OptionResult { IdentifierToken: null, Tokens.Count: 0 }:
                    break; // a required option left out: named with the others below
                case OptionResult result:
                    return ValueProblem(result.Option.Name, result.Tokens, true, Flatten(problem.Message));
                case ArgumentResult { Parent: OptionResult parent }:
                    return ValueProblem(parent.Option.Name, parent.Tokens, true, Flatten(problem.Message));
                case ArgumentResult { Tokens.Count: > 0 } argument:
                    return ValueProblem(name, argument.Tokens, true, Flatten(problem.Message));
            }
        }

        string[] missing = [.. command.Options.Where(o => o.Required && parse.GetResult(o) is null or { IdentifierToken: null, Tokens.Count: 0 }).Select(o => o.Name)];
        if (missing.Length > 0)
        {
            string list = missing.Length == 1 ? missing[0] : string.Join(", ", missing[..^1]) + " and " + missing[^1];
            return $"'{name}' needs {list}; see '{name} --help'";
        }

        string[] arguments = [.. command.Arguments.Where(a => parse.GetResult(a) is null or { Tokens.Count: 0 }).Select(a => a.Name)];
        if (arguments.Length > 0 && parse.Errors.Any(e => e.SymbolResult is CommandResult or ArgumentResult))
        {
            return $"'{name}' needs the {string.Join(" and ", arguments)} argument; see '{name} --help'";
        }

        return Flatten(parse.Errors[0].Message);
    }

    private static string ValueProblem(string option, IReadOnlyList<Token> tokens, bool typed, string message)
    {
        string given = string.Join(' ', tokens.Select(t => t.Value));
        if (tokens.Count == 0 && typed && !message.StartsWith(option, StringComparison.Ordinal)) return $"{option} needs a value";
        if (CannotParse().Match(message) is { Success: true } m)
        {
            return $"{option} {m.Groups["value"].Value}: expected {FriendlyType(m.Groups["type"].Value)}";
        }

        if (NotAmong().Match(message) is { Success: true } among)
        {
            string[] choices = [.. Quoted().Matches(among.Groups["choices"].Value).Select(q => q.Groups[1].Value)];
            string hint = Closest(among.Groups["value"].Value, choices) is string c ? $" (did you mean '{c}'?)" : "";
            return $"{option} {among.Groups["value"].Value}: expected one of {string.Join(", ", choices)}{hint}";
        }

        return message.StartsWith(option, StringComparison.Ordinal) ? message : $"{option} {given}: {message}";
    }

    private static string FriendlyType(string type) => type switch
    {
        "System.Int32" or "System.Nullable`1[System.Int32]" or "System.Int64" or "System.Nullable`1[System.Int64]" => "an integer",
        "System.Double" or "System.Nullable`1[System.Double]" or "System.Single" or "System.Nullable`1[System.Single]" => "a number",
        "System.Boolean" or "System.Nullable`1[System.Boolean]" => "true or false",
        _ => "a " + type[(type.LastIndexOf('.') + 1)..].TrimEnd(']').ToLowerInvariant(),
    };

    private static string Flatten(string message) =>
        string.Join(' ', message.Split((char[])['\n', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>"heed", then every verb down to <paramref name="command"/>.</summary>
    internal static IEnumerable<string> CommandPath(Command command) =>
        command.Parents.OfType<Command>().Reverse().Select(c => c.Name).Append(command.Name).Select((n, i) => i == 0 ? "heed" : n);

    /// <summary>
    /// The candidate a user most likely meant by <paramref name="typed"/>: the only one that starts with it, else the nearest
    /// by edit distance (adjacent swaps count once) within a third of its length; null when none is close.
    /// </summary>
    internal static string? Closest(string typed, IEnumerable<string> candidates)
    {
        string[] all = [.. candidates.Distinct()];
        string[] prefixed = [.. all.Where(c => typed.Trim('-').Length >= 2 && c.StartsWith(typed, StringComparison.OrdinalIgnoreCase))];
        if (prefixed.Length == 1) return prefixed[0];
        int limit = Math.Max(1, Math.Min(3, typed.Trim('-').Length / 3));
        return all.Select(c => (Name: c, Distance: EditDistance(typed.ToLowerInvariant(), c.ToLowerInvariant())))
            .Where(c => c.Distance <= limit).OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal).Select(c => c.Name).FirstOrDefault();
    }

    // Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours each cost 1. A few lines of
    // dynamic programming over words of a few letters; no library is needed for that.
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }

        return d[a.Length, b.Length];
    }

    [GeneratedRegex("^Cannot parse argument '(?<value>.*)' for (option|command) '.*' as expected type '(?<type>[^']+)'")]
    private static partial Regex CannotParse();

    [GeneratedRegex("^Argument '(?<value>.*)' not recognized\\. Must be one of:(?<choices>.*)$")]
    private static partial Regex NotAmong();

    [GeneratedRegex("'([^']*)'")]
    private static partial Regex Quoted();
}
