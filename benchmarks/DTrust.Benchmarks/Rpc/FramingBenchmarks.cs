using System.Buffers;
using BenchmarkDotNet.Attributes;
using DTrust.Rpc.Internal;
using Google.Protobuf;
using Grpc.Health.V1;

namespace DTrust.Benchmarks.Rpc;

/// <summary>
/// The CPU cost the transport adds per message: length-prefix framing around protobuf serialization and parsing of a
/// small message, and percent-encoding of a status detail. No sockets; compare with the h2load figures of
/// benchmarks/rpc-load.sh for what the network path costs.
/// </summary>
[Config(typeof(BenchConfig))]
public class FramingBenchmarks
{
    private readonly HealthCheckRequest _message = new() { Service = "dtrust.signing.v1.SigningService" };
    private readonly ArrayBufferWriter<byte> _output = new(256);
    private readonly string _detail = "credential 42 is locked: 5 wrong PINs\nversuchen Sie es später";
    private byte[] _frame = [];
    private ReadOnlySequence<byte> _split;

    [GlobalSetup]
    public void Setup()
    {
        _frame = GrpcFraming.ToFrame(_message);
        _split = TwoSegments(_frame, 3);
    }

    [Benchmark(Description = "serialize small message (protobuf only)")]
    public int Serialize()
    {
        _output.ResetWrittenCount();
        _message.WriteTo(_output);
        return _output.WrittenCount;
    }

    [Benchmark(Description = "write frame: prefix + message into a buffer writer")]
    public int WriteFrame()
    {
        _output.ResetWrittenCount();
        GrpcFraming.Write(_output, _message, _message.CalculateSize());
        return _output.WrittenCount;
    }

    [Benchmark(Description = "parse small message (protobuf only)")]
    public HealthCheckRequest Parse() => HealthCheckRequest.Parser.ParseFrom(_frame.AsSpan(GrpcFraming.HeaderSize));

    [Benchmark(Baseline = true, Description = "read frame + parse, one segment")]
    public HealthCheckRequest ReadFrame()
    {
        var buffer = new ReadOnlySequence<byte>(_frame);
        GrpcFraming.TryRead(ref buffer, GrpcFraming.HeaderSize + 4096, out var payload, out _);
        return HealthCheckRequest.Parser.ParseFrom(payload);
    }

    [Benchmark(Description = "read frame + parse, prefix split across segments")]
    public HealthCheckRequest ReadSplitFrame()
    {
        var buffer = _split;
        GrpcFraming.TryRead(ref buffer, GrpcFraming.HeaderSize + 4096, out var payload, out _);
        return HealthCheckRequest.Parser.ParseFrom(payload);
    }

    [Benchmark(Description = "percent-encode a UTF-8 status detail")]
    public string EncodeDetail() => PercentEncoding.Encode(_detail);

    private static ReadOnlySequence<byte> TwoSegments(byte[] data, int cut)
    {
        var first = new Segment(data.AsMemory(0, cut), 0);
        var second = new Segment(data.AsMemory(cut), cut);
        first.SetNext(second);
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }
}
