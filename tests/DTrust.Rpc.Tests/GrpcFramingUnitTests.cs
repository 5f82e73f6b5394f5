using System.Buffers;
using DTrust.Rpc.Internal;
using DTrust.Rpc.Tests.Protos;
using Google.Protobuf;
using Xunit;

namespace DTrust.Rpc.Tests;

/// <summary>The 5-byte length-prefix parser, on buffers made by hand; no server.</summary>
public sealed class GrpcFramingUnitTests
{
    private const int Max = 4 * 1024 * 1024;

    [Fact]
    public void Fewer_than_five_bytes_need_more_data()
    {
        for (var n = 0; n < 5; n++)
        {
            var buffer = new ReadOnlySequence<byte>(new byte[n]);
            Assert.Equal(FrameStatus.NeedMoreData, GrpcFraming.TryRead(ref buffer, Max, out _, out _));
            Assert.Equal(n, buffer.Length);
        }
    }

    [Fact]
    public void Body_shorter_than_its_prefix_needs_more_data_and_consumes_nothing()
    {
        var buffer = new ReadOnlySequence<byte>([0, 0, 0, 0, 10, 1, 2, 3]);

        Assert.Equal(FrameStatus.NeedMoreData, GrpcFraming.TryRead(ref buffer, Max, out _, out var length));
        Assert.Equal(10, length);
        Assert.Equal(8, buffer.Length);
    }

    [Fact]
    public void Message_split_across_segments_is_reassembled()
    {
        var frame = GrpcFraming.ToFrame(new EchoRequest { Message = "split across three segments" });
        var buffer = Segments(frame[..2], frame[2..9], frame[9..]);

        Assert.Equal(FrameStatus.Message, GrpcFraming.TryRead(ref buffer, Max, out var payload, out _));
        Assert.Equal("split across three segments", EchoRequest.Parser.ParseFrom(payload).Message);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void Two_messages_in_one_buffer_come_out_one_at_a_time_and_empty_messages_are_valid()
    {
        var buffer = new ReadOnlySequence<byte>([.. GrpcFraming.ToFrame(new EchoRequest { Message = "a" }), 0, 0, 0, 0, 0, 9]);

        Assert.Equal(FrameStatus.Message, GrpcFraming.TryRead(ref buffer, Max, out var first, out _));
        Assert.Equal("a", EchoRequest.Parser.ParseFrom(first).Message);
        Assert.Equal(FrameStatus.Message, GrpcFraming.TryRead(ref buffer, Max, out var empty, out _));
        Assert.True(empty.IsEmpty);
        Assert.Equal(FrameStatus.NeedMoreData, GrpcFraming.TryRead(ref buffer, Max, out _, out _));
        Assert.Equal(1, buffer.Length);
    }

    [Fact]
    public void Oversized_length_is_refused_from_the_prefix_alone()
    {
        var buffer = new ReadOnlySequence<byte>([0, 0, 0x40, 0, 1]);

        Assert.Equal(FrameStatus.TooLarge, GrpcFraming.TryRead(ref buffer, Max, out _, out var length));
        Assert.Equal(Max + 1, length);
    }

    [Fact]
    public void Length_at_the_limit_is_accepted()
    {
        var buffer = new ReadOnlySequence<byte>([0, 0, 0, 0, 4, 1, 2, 3, 4]);

        Assert.Equal(FrameStatus.Message, GrpcFraming.TryRead(ref buffer, 4, out var payload, out _));
        Assert.Equal(4, payload.Length);
    }

    [Fact]
    public void Maximum_uint32_length_does_not_overflow()
    {
        var buffer = new ReadOnlySequence<byte>([0, 0xFF, 0xFF, 0xFF, 0xFF]);

        Assert.Equal(FrameStatus.TooLarge, GrpcFraming.TryRead(ref buffer, int.MaxValue, out _, out var length));
        Assert.Equal(uint.MaxValue, length);
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [InlineData(0x80, false)]
    public void Flag_byte_other_than_zero_is_refused(byte flag, bool compressed)
    {
        var buffer = new ReadOnlySequence<byte>([flag, 0, 0, 0, 1, 0]);

        Assert.Equal(compressed ? FrameStatus.Compressed : FrameStatus.InvalidFlag, GrpcFraming.TryRead(ref buffer, Max, out _, out _));
    }

    [Fact]
    public void Write_produces_what_the_parser_reads()
    {
        var message = new EchoReply { Message = "round trip", PayloadSize = 42 };
        var output = new ArrayBufferWriter<byte>();
        GrpcFraming.Write(output, message, message.CalculateSize());
        var buffer = new ReadOnlySequence<byte>(output.WrittenMemory);

        Assert.Equal(GrpcFraming.ToFrame(message), output.WrittenSpan.ToArray());
        Assert.Equal(FrameStatus.Message, GrpcFraming.TryRead(ref buffer, Max, out var payload, out _));
        Assert.Equal(message, EchoReply.Parser.ParseFrom(payload));
    }

    private static ReadOnlySequence<byte> Segments(params byte[][] parts)
    {
        var first = new Segment(parts[0], 0);
        var last = first;
        foreach (var part in parts[1..])
        {
            last = last.Append(part);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data, long runningIndex)
        {
            Memory = data;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] data)
        {
            var next = new Segment(data, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
