namespace DTrust.Rpc;

/// <summary>A status code with its human-readable detail, as sent in <c>grpc-status</c> and <c>grpc-message</c>.</summary>
public readonly record struct RpcStatus(StatusCode Code, string Detail)
{
    public static RpcStatus Ok { get; } = new(StatusCode.OK, "");

    public override string ToString() => $"{Code}: {Detail}";
}
