using System.ComponentModel;
using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using System.Threading.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Heed.Server.Mcp;

/// <summary>
/// Marks a tool that computes with the kernels: on the HTTP server each call takes one of the computation slots the REST
/// endpoints share, so MCP and REST together never run more computations than there are cores.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ComputesAttribute : Attribute;

/// <summary>A tool's answer with content beyond its JSON: pictures as images, large parts as links to resources.</summary>
/// <typeparam name="T">The structured result (the tool's output schema).</typeparam>
/// <param name="Value">The structured result, sent as <c>structuredContent</c> and as the same JSON text.</param>
/// <param name="Content">The blocks that follow the JSON text.</param>
public sealed record ToolAnswer<T>(T Value, IReadOnlyList<ContentBlock> Content) : IToolAnswer
{
    object? IToolAnswer.Value => Value;
}

/// <summary>The untyped view of <see cref="ToolAnswer{T}"/>.</summary>
public interface IToolAnswer
{
    /// <summary>The structured result.</summary>
    object? Value { get; }

    /// <summary>The blocks that follow the JSON text.</summary>
    IReadOnlyList<ContentBlock> Content { get; }
}

/// <summary>
/// An MCP tool made from a method marked <see cref="McpServerToolAttribute"/>, in place of the SDK's own binding, which
/// nests a record parameter under its name (<c>{"request": {...}}</c>) and turns bad input into "An error occurred".
/// The tool's arguments are, at the top level, the fields of the method's one record parameter (the request record REST
/// takes as its body) and its plain parameters (what REST takes from the path or query). The input and output schemas
/// come from those types through <see cref="ToolSchemas"/>; arguments are read with <see cref="ServerJson.Options"/>.
/// An argument that does not fit, and a <see cref="HeedException"/> from the service, become a result with
/// <c>isError</c> and Heed's one-line message naming the field (tool execution errors, as the MCP specification asks
/// of input validation since 2025-11-25, so that a model can read the message and correct its call).
/// </summary>
internal sealed class HeedTool : McpServerTool
{
    private readonly MethodInfo _method;
    private readonly Parameter[] _parameters;
    private readonly Type? _record;
    private readonly HashSet<string> _recordFields;
    private readonly string[] _argumentNames;
    private readonly Type _resultType;
    private readonly bool _computes;

    private HeedTool(MethodInfo method)
    {
        _method = method;
        _computes = method.GetCustomAttribute<ComputesAttribute>() is not null;
        McpServerToolAttribute attribute = method.GetCustomAttribute<McpServerToolAttribute>()!;
        _parameters = method.GetParameters().Select(Parameter.Of).ToArray();
        Parameter[] records = _parameters.Where(p => p.Kind == ParameterKind.Record).ToArray();
        if (records.Length > 1)
        {
            throw new InvalidOperationException($"{method.Name}: at most one record parameter can give a tool's top-level arguments");
        }

        _record = records.SingleOrDefault()?.Type;
        JsonObject input = _record is null ? new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() } : ToolSchemas.For(_record);
        _recordFields = _record is null ? [] : ServerJson.Options.GetTypeInfo(_record).Properties.Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var properties = (JsonObject)input["properties"]!;
        foreach (Parameter p in _parameters.Where(p => p.Kind == ParameterKind.Argument))
        {
            if (_recordFields.Contains(p.Name))
            {
                throw new InvalidOperationException($"{method.Name}: the argument {p.Name} is also a field of {_record!.Name}");
            }

            properties[p.Name] = ToolSchemas.For(p.Type, p.Description, p.Info.HasDefaultValue, p.Info.HasDefaultValue ? p.Info.DefaultValue : null);
            if (!p.Info.HasDefaultValue)
            {
                (input["required"] as JsonArray ?? (JsonArray)(input["required"] = new JsonArray())).Add(p.Name);
            }
        }

        // An argument the tool does not know is refused (a typo must not silently run with a default), so the schema says so.
        input["additionalProperties"] = false;
        _argumentNames = properties.Select(p => p.Key).ToArray();

        Type returned = method.ReturnType.IsGenericType && method.ReturnType.GetGenericTypeDefinition() == typeof(Task<>) ? method.ReturnType.GetGenericArguments()[0] : method.ReturnType;
        _resultType = returned.IsGenericType && returned.GetGenericTypeDefinition() == typeof(ToolAnswer<>) ? returned.GetGenericArguments()[0] : returned;
        ProtocolTool = new Tool
        {
            Name = attribute.Name ?? throw new InvalidOperationException($"{method.Name}: the tool needs a name"),
            Title = attribute.Title,
            Description = method.GetCustomAttribute<DescriptionAttribute>()?.Description,
            InputSchema = JsonSerializer.SerializeToElement(input),
            OutputSchema = JsonSerializer.SerializeToElement(ToolSchemas.For(_resultType)),
            Annotations = new ToolAnnotations
            {
                Title = attribute.Title,
                ReadOnlyHint = attribute.ReadOnly,
                DestructiveHint = attribute.Destructive,
                IdempotentHint = attribute.Idempotent,
                OpenWorldHint = attribute.OpenWorld,
            },
        };
        Metadata = [method, .. method.DeclaringType!.GetCustomAttributes(), .. method.GetCustomAttributes()];
    }

    private enum ParameterKind
    {
        Argument,
        Record,
        Context,
        Cancellation,
    }

    /// <inheritdoc />
    public override Tool ProtocolTool { get; }

    /// <inheritdoc />
    public override IReadOnlyList<object> Metadata { get; }

    /// <summary>A tool for every method of <typeparamref name="T"/> marked <see cref="McpServerToolAttribute"/>; an instance of <typeparamref name="T"/> is made from the request's services for each call.</summary>
    public static IEnumerable<McpServerTool> For<T>() =>
        typeof(T).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Where(m => m.GetCustomAttribute<McpServerToolAttribute>() is not null)
            .Select(m => new HeedTool(m))
            .ToArray();

    /// <inheritdoc />
    public override async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        long started = Stopwatch.GetTimestamp();
        object?[] values;
        try
        {
            values = Bind(request, cancellationToken);
        }
        catch (ToolArgumentException ex)
        {
            return Error(ex.Message);
        }

        // Over HTTP a computing tool waits for a slot like REST's computations; over stdio (no admission) it runs at once.
        RateLimitLease? lease = null;
        if (_computes && request.Services?.GetService<Admission>() is Admission admission)
        {
            try
            {
                lease = await admission.EnterComputationAsync(started, cancellationToken).ConfigureAwait(false);
            }
            catch (RequestTimedOutException ex)
            {
                return Error(ex.Message);
            }

            if (lease is null)
            {
                return Error(admission.Busy(RequestClass.Computation));
            }
        }

        using RateLimitLease? held = lease;
        object? target = _method.IsStatic ? null : ActivatorUtilities.GetServiceOrCreateInstance(request.Services ?? throw new InvalidOperationException("the request has no services"), _method.DeclaringType!);
        object? result;
        try
        {
            result = _method.Invoke(target, BindingFlags.DoNotWrapExceptions, null, values, null);
            if (result is Task task)
            {
                await task.ConfigureAwait(false);
                result = task.GetType().GetProperty(nameof(Task<object>.Result))!.GetValue(task);
            }
        }
        catch (HeedException ex)
        {
            return Error(ex.Message);
        }

        (object? value, IReadOnlyList<ContentBlock> extra) = result is IToolAnswer answer ? (answer.Value, answer.Content) : (result, []);

        // One serialization gives both: the text block is exactly the JSON of structuredContent.
        string json = JsonSerializer.Serialize(value, _resultType, ServerJson.Options);
        return new CallToolResult
        {
            Content = [new TextContentBlock { Text = json }, .. extra],
            StructuredContent = JsonElement.Parse(json),
        };
    }

    private static CallToolResult Error(string message) => new() { IsError = true, Content = [new TextContentBlock { Text = message }] };

    private object?[] Bind(RequestContext<CallToolRequestParams> request, CancellationToken cancellation)
    {
        IDictionary<string, JsonElement> given = request.Params?.Arguments ?? new Dictionary<string, JsonElement>();
        var arguments = new Dictionary<string, JsonElement>(given, StringComparer.OrdinalIgnoreCase);
        foreach (string name in given.Keys)
        {
            if (!_argumentNames.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                string known = _argumentNames.Length == 0 ? "this tool takes no arguments" : "expected one of " + ArgumentErrors.JoinOr(_argumentNames);
                throw new ToolArgumentException($"{name}: not an argument of {ProtocolTool.Name}; {known}");
            }
        }

        var values = new object?[_parameters.Length];
        for (int i = 0; i < _parameters.Length; i++)
        {
            Parameter p = _parameters[i];
            values[i] = p.Kind switch
            {
                ParameterKind.Context => request,
                ParameterKind.Cancellation => cancellation,
                ParameterKind.Record => ReadRecord(p.Type, arguments),
                _ => ReadArgument(p, arguments),
            };
        }

        return values;
    }

    private object? ReadRecord(Type type, Dictionary<string, JsonElement> arguments)
    {
        var fields = new JsonObject();
        foreach ((string name, JsonElement value) in arguments.Where(a => _recordFields.Contains(a.Key)))
        {
            fields[name] = JsonSerializer.SerializeToNode(value);
        }

        try
        {
            return JsonSerializer.Deserialize(fields, type, ServerJson.Options) ?? throw new ToolArgumentException("arguments: expected an object");
        }
        catch (JsonException ex)
        {
            throw new ToolArgumentException(ArgumentErrors.Describe(ex, type, fields, null));
        }
    }

    private static object? ReadArgument(Parameter p, Dictionary<string, JsonElement> arguments)
    {
        bool present = arguments.TryGetValue(p.Name, out JsonElement value) && value.ValueKind != JsonValueKind.Null;
        if (!present)
        {
            if (p.Info.HasDefaultValue)
            {
                return p.Info.DefaultValue;
            }

            throw new ToolArgumentException($"{p.Name}: required; expected {ArgumentErrors.Expected(p.Type)}{(p.Description is null ? "" : $" ({p.Description.TrimEnd('.')})")}");
        }

        try
        {
            return value.Deserialize(p.Type, ServerJson.Options);
        }
        catch (JsonException ex)
        {
            throw new ToolArgumentException(ArgumentErrors.Describe(ex, p.Type, JsonSerializer.SerializeToNode(value), p.Name));
        }
    }

    private sealed record Parameter(ParameterInfo Info, ParameterKind Kind, string Name, Type Type, string? Description)
    {
        public static Parameter Of(ParameterInfo info)
        {
            Type type = info.ParameterType;
            ParameterKind kind = type == typeof(CancellationToken) ? ParameterKind.Cancellation
                : type == typeof(RequestContext<CallToolRequestParams>) ? ParameterKind.Context
                : ServerJson.Options.GetTypeInfo(type).Kind == JsonTypeInfoKind.Object ? ParameterKind.Record
                : ParameterKind.Argument;
            string name = ServerJson.Options.PropertyNamingPolicy?.ConvertName(info.Name!) ?? info.Name!;
            return new Parameter(info, kind, name, type, info.GetCustomAttribute<DescriptionAttribute>()?.Description);
        }
    }
}
