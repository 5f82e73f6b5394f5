using System.Text.Json;

namespace DTrust.SigningServer.Api.Http;

/// <summary>
/// The HTTP column of the error table: <see cref="ErrorKind"/> → status and an OAuth 2.0-style JSON body
/// (<c>error</c>, <c>error_description</c>), the shape CSC API clients read. REST front ends answer with it.
/// </summary>
public static class HttpErrors
{
    public static int Status(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument or ErrorKind.FailedPrecondition => StatusCodes.Status400BadRequest,
        ErrorKind.Unauthenticated => StatusCodes.Status401Unauthorized,
        ErrorKind.PermissionDenied => StatusCodes.Status403Forbidden,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.ResourceExhausted => StatusCodes.Status429TooManyRequests,
        ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>The <c>error</c> code of the body.</summary>
    public static string Error(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => "invalid_request",
        ErrorKind.FailedPrecondition => "invalid_request",
        ErrorKind.Unauthenticated => "invalid_token",
        ErrorKind.PermissionDenied => "access_denied",
        ErrorKind.NotFound => "not_found",
        ErrorKind.ResourceExhausted => "too_many_requests",
        ErrorKind.Unavailable => "temporarily_unavailable",
        _ => "server_error",
    };

    public static Task WriteAsync(HttpContext http, ErrorKind kind, string message)
    {
        http.Response.StatusCode = Status(kind);
        if (kind == ErrorKind.Unauthenticated)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
        }

        return http.Response.WriteAsJsonAsync(new ErrorBody(Error(kind), message), ErrorBodyContext.Default.ErrorBody, cancellationToken: CancellationToken.None);
    }
}

internal sealed record ErrorBody(string Error, string ErrorDescription);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ErrorBody))]
internal sealed partial class ErrorBodyContext : System.Text.Json.Serialization.JsonSerializerContext;
