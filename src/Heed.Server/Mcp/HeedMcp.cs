using System.Text.Json;
using System.Text.Json.Nodes;
using Heed.Server.Services;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Heed.Server.Mcp;

/// <summary>Heed's tools, resources and prompts on an MCP server, the same over Streamable HTTP (<c>/mcp</c>) and stdio (<c>heed mcp</c>).</summary>
public static class HeedMcp
{
    /// <summary>
    /// Adds the tools (through <see cref="HeedTool"/>: top-level arguments, schemas from the shared records, input errors as
    /// tool errors), the resources and the prompt, and maps errors to the JSON-RPC codes the MCP specification gives:
    /// a run or matrix that does not exist is -32002 (resource not found); other bad input to a resource, and a prompt
    /// called without a required argument, are -32602 (invalid params), each with Heed's one-line message.
    /// </summary>
    public static IMcpServerBuilder WithHeed(this IMcpServerBuilder builder) => builder
        .WithMessageFilters(filters => filters.AddIncomingFilter(ArgumentsObject))
        .WithTools(HeedTool.For<HeedTools>())
        .WithResources<HeedResources>()
        .WithPrompts<HeedPrompts>()
        .WithRequestFilters(filters => filters
            .AddReadResourceFilter(ResourceErrors)
            .AddGetPromptFilter(RequiredPromptArguments));

    // The SDK reads tools/call's params before any request filter runs, and answers arguments that are not an object with
    // -32603 "An error occurred."; such a request does not fit CallToolRequest's schema, which is -32602.
    private static McpMessageHandler ArgumentsObject(McpMessageHandler next) =>
        (context, cancellation) =>
        {
            if (context.JsonRpcMessage is JsonRpcRequest { Method: RequestMethods.ToolsCall } request
                && request.Params is JsonObject parameters
                && parameters["arguments"] is JsonNode arguments
                && arguments.GetValueKind() != JsonValueKind.Object)
            {
                throw new McpProtocolException($"arguments: {ArgumentErrors.Show(arguments)}; expected an object of argument names to values", McpErrorCode.InvalidParams);
            }

            return next(context, cancellation);
        };

    private static McpRequestHandler<ReadResourceRequestParams, ReadResourceResult> ResourceErrors(McpRequestHandler<ReadResourceRequestParams, ReadResourceResult> next) =>
        async (context, cancellation) =>
        {
            try
            {
                return await next(context, cancellation).ConfigureAwait(false);
            }
            catch (HeedNotFoundException ex)
            {
                throw new McpProtocolException(ex.Message, ex, McpErrorCode.ResourceNotFound);
            }
            catch (HeedException ex)
            {
                throw new McpProtocolException(ex.Message, ex, McpErrorCode.InvalidParams);
            }
        };

    // The SDK binds prompt arguments to the method's parameters and reports a missing one as an internal error (-32603).
    private static McpRequestHandler<GetPromptRequestParams, GetPromptResult> RequiredPromptArguments(McpRequestHandler<GetPromptRequestParams, GetPromptResult> next) =>
        (context, cancellation) =>
        {
            McpServerPrompt? prompt = context.MatchedPrimitive as McpServerPrompt;
            if (prompt is null && context.Params?.Name is string name)
            {
                context.Server.ServerOptions.PromptCollection?.TryGetPrimitive(name, out prompt);
            }

            foreach (PromptArgument argument in prompt?.ProtocolPrompt.Arguments ?? [])
            {
                if (argument.Required == true && (context.Params?.Arguments is not { } given || !given.TryGetValue(argument.Name, out var value) || value.ValueKind == JsonValueKind.Null))
                {
                    throw new McpProtocolException($"{argument.Name}: required; {argument.Description}", McpErrorCode.InvalidParams);
                }
            }

            return next(context, cancellation);
        };
}
