using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;

namespace DTrust.Rpc.Internal;

/// <summary>Outcome of looking for one length-prefixed message at the start of a buffer.</summary>
internal enum FrameStatus
{
    /// <summary>Not enough bytes yet; <c>consumed</c> is unchanged and the caller reads more.</summary>
    NeedMoreData,

    /// <summary>A whole message; it is sliced out of the buffer.</summary>
    Message,

    /// <summary>The prefix announces more than the limit; decided from the prefix alone, nothing is buffered.</summary>
    TooLarge,

    /// <summary>The compressed flag is set; this transport only speaks identity.</summary>
    Compressed,

    /// <summary>The flag byte is neither 0 nor 1.</summary>
    InvalidFlag,
}

/// <summary>
/// The gRPC message framing: one flag byte (compressed or not), a 4-byte big-endian length, then the message.
/// </summary>
internal static class GrpcFraming
{
    public const int HeaderSize = 5;

    /// <summary>
    /// Looks for one message at the start of <paramref name="buffer"/>. On <see cref="FrameStatus.Message"/>,
    /// <paramref name="message"/> is the payload and <paramref name="buffer"/> is advanced past it.
    /// </summary>
    public static FrameStatus TryRead(
        ref ReadOnlySequence<byte> buffer,
        int maxMessageSize,
        out ReadOnlySequence<byte> message,
        out long declaredLength)
    {
        message = default;
        declaredLength = 0;
        if (buffer.Length < HeaderSize)
        {
            return FrameStatus.NeedMoreData;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        declaredLength = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        switch (header[0])
        {
            case 0:
                break;
            case 1:
                return FrameStatus.Compressed;
            default:
                return FrameStatus.InvalidFlag;
        }

        if (declaredLength > maxMessageSize)
        {
            return FrameStatus.TooLarge;
        }

        if (buffer.Length - HeaderSize < declaredLength)
        {
            return FrameStatus.NeedMoreData;
        }

        message = buffer.Slice(HeaderSize, declaredLength);
        buffer = buffer.Slice(HeaderSize + declaredLength);
        return FrameStatus.Message;
    }

    /// <summary>Writes the prefix and the serialized message straight into the output buffer.</summary>
    public static void Write(IBufferWriter<byte> output, IMessage message, int size)
    {
        var header = output.GetSpan(HeaderSize);
        header[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)size);
        output.Advance(HeaderSize);
        if (size > 0)
        {
            message.WriteTo(output);
        }
    }

    /// <summary>The whole frame as one array; the client hands this to HttpClient as the request body.</summary>
    public static byte[] ToFrame(IMessage message)
    {
        var size = message.CalculateSize();
        var frame = new byte[HeaderSize + size];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)size);
        message.WriteTo(frame.AsSpan(HeaderSize));
        return frame;
    }
}
