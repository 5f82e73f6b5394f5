using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DTrust.SigningServer.Health;

/// <summary>
/// /healthz body: the overall status and one word per dependency, nothing more (no exception text, addresses or
/// durations): the HTTP listener is public.
/// </summary>
internal static class HealthReportWriter
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new Dictionary<string, object>
        {
            ["status"] = Word(report.Status),
            ["checks"] = report.Entries.ToDictionary(e => e.Key, e => Word(e.Value.Status)),
        };
        return JsonSerializer.SerializeAsync(context.Response.Body, body, cancellationToken: context.RequestAborted);
    }

    private static string Word(HealthStatus status) => status == HealthStatus.Healthy ? "up" : "down";
}
