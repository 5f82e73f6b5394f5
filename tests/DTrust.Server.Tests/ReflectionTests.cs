using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client;

namespace DTrust.Server.Tests;

/// <summary>
/// Server reflection (v1 and v1alpha, as grpcurl and Postman ask) lists our services and describes them. The
/// reflection messages are encoded by hand here so the tests need no further package: a request carries one field,
/// and the answers are read field by field.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class ReflectionTests(ServerFixture fixture)
{
    public static TheoryData<string> Versions => new() { "v1", "v1alpha" };

    private static Method<byte[], byte[]> Info(string version) => new(
        MethodType.DuplexStreaming,
        $"grpc.reflection.{version}.ServerReflection",
        "ServerReflectionInfo",
        Marshallers.Create(b => b, b => b),
        Marshallers.Create(b => b, b => b));

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task Reflection_lists_the_timestamp_and_health_services(string version)
    {
        // ServerReflectionRequest.list_services (field 7) = "*".
        var response = await AskAsync(version, Field(7, "*"u8.ToArray()));

        // ServerReflectionResponse.list_services_response (6) → repeated ServiceResponse service (1) → name (1).
        var names = Fields(Single(response, 6)).Where(f => f.Number == 1)
            .Select(f => Fields(f.Value).Single(n => n.Number == 1).Value.ToStringUtf8())
            .ToList();
        Assert.Contains("dtrust.tsa.v1.TimestampService", names);
        Assert.Contains("grpc.health.v1.Health", names);
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task Reflection_describes_the_timestamp_service(string version)
    {
        // file_containing_symbol (field 4) → file_descriptor_response (4) → repeated serialized FileDescriptorProto (1).
        var response = await AskAsync(version, Field(4, "dtrust.tsa.v1.TimestampService"u8.ToArray()));

        var files = Fields(Single(response, 4)).Where(f => f.Number == 1).Select(f => FileDescriptorProto.Parser.ParseFrom(f.Value)).ToList();
        var tsa = Assert.Single(files, f => f.Name == "dtrust/tsa/v1/tsa.proto");
        var service = Assert.Single(tsa.Service);
        Assert.Equal("TimestampService", service.Name);
        var method = Assert.Single(service.Method);
        Assert.Equal(("Timestamp", ".dtrust.tsa.v1.TimestampRequest", ".dtrust.tsa.v1.TimestampResponse"), (method.Name, method.InputType, method.OutputType));
    }

    private async Task<ByteString> AskAsync(string version, byte[] request)
    {
        using var channel = GrpcChannel.ForAddress(fixture.Server.GrpcAddress);
        using var call = channel.CreateCallInvoker().AsyncDuplexStreamingCall(Info(version), null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(15)));
        await call.RequestStream.WriteAsync(request);
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), "no reflection response");
        var response = ByteString.CopyFrom(call.ResponseStream.Current);
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None), "one request, one response");

        // error_response is field 7: a reflection error must not pass for an empty list.
        Assert.DoesNotContain(Fields(response), f => f.Number == 7);
        return response;
    }

    private static byte[] Field(int number, byte[] value)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        output.WriteTag(number, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(value));
        output.Flush();
        return buffer.ToArray();
    }

    private static ByteString Single(ByteString message, int number) => Fields(message).Single(f => f.Number == number).Value;

    /// <summary>The length-delimited fields of a message (varints are read and dropped: none matter here).</summary>
    private static List<(int Number, ByteString Value)> Fields(ByteString message)
    {
        var input = new CodedInputStream(message.ToByteArray());
        var fields = new List<(int, ByteString)>();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                fields.Add((WireFormat.GetTagFieldNumber(tag), input.ReadBytes()));
            }
            else
            {
                input.SkipLastField();
            }
        }

        return fields;
    }
}
