namespace DTrust.Rpc.Internal;

/// <summary>gRPC peers send binary metadata with or without base64 padding; accept both.</summary>
internal static class Base64Lenient
{
    public static byte[] Decode(string value)
    {
        var padding = (4 - (value.Length % 4)) % 4;
        return Convert.FromBase64String(padding == 0 ? value : value + new string('=', padding));
    }
}
