using DTrust.Rpc.Internal;
using Xunit;

namespace DTrust.Rpc.Tests;

/// <summary>Header encodings of the protocol: grpc-message, grpc-timeout, content-type; no server.</summary>
public sealed class ProtocolUnitTests
{
    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("50%", "50%25")]
    [InlineData("a\nb", "a%0Ab")]
    [InlineData("ü", "%C3%BC")]
    [InlineData("✓", "%E2%9C%93")]
    public void Grpc_message_is_percent_encoded_utf8(string detail, string wire)
    {
        Assert.Equal(wire, PercentEncoding.Encode(detail));
        Assert.Equal(detail, PercentEncoding.Decode(wire));
    }

    [Theory]
    [InlineData("100%")]
    [InlineData("%zz")]
    [InlineData("%4")]
    public void Malformed_escapes_are_kept_verbatim(string wire) => Assert.Equal(wire, PercentEncoding.Decode(wire));

    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("3S", 30_000_000L)]
    [InlineData("250m", 2_500_000L)]
    [InlineData("7u", 70L)]
    [InlineData("500n", 5L)]
    [InlineData("99999999S", 999_999_990_000_000L)]
    public void Grpc_timeout_parses_every_unit(string value, long ticks)
    {
        Assert.True(GrpcTimeout.TryParse(value, out var timeout));
        Assert.Equal(ticks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("S")]
    [InlineData("123456789S")]
    [InlineData("-1S")]
    [InlineData("1x")]
    [InlineData("1.5S")]
    public void Malformed_grpc_timeout_is_rejected(string value) => Assert.False(GrpcTimeout.TryParse(value, out _));

    [Fact]
    public void Formatted_timeouts_fit_eight_digits_and_never_shrink()
    {
        foreach (var t in new[] { TimeSpan.FromTicks(1), TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(30), TimeSpan.FromHours(5), TimeSpan.FromDays(3000) })
        {
            var wire = GrpcTimeout.Format(t);
            Assert.True(wire.Length <= 9, wire);
            Assert.True(GrpcTimeout.TryParse(wire, out var back) && back >= t, $"{t} -> {wire} -> {back}");
        }
    }

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/GRPC; charset=utf-8", true)]
    [InlineData("application/grpc+json", false)]
    [InlineData("application/grpcx", false)]
    [InlineData("text/plain", false)]
    [InlineData(null, false)]
    public void Content_type_check(string? contentType, bool accepted) =>
        Assert.Equal(accepted, GrpcProtocol.IsGrpcContentType(contentType));
}
