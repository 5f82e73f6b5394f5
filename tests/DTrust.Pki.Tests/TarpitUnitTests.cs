using System.Diagnostics;
using DTrust.SigningServer.Hosting;

namespace DTrust.Pki.Tests;

/// <summary>
/// The public listener's tarpit holds refusals back, but never more than its capacity at once: a flood from many
/// addresses must not fill Kestrel's connection limit (shared with gRPC) with waiting 429s.
/// </summary>
public sealed class TarpitUnitTests
{
    [Fact]
    public async Task Refusals_beyond_the_capacity_are_answered_at_once_and_the_room_comes_back()
    {
        var tarpit = new Tarpit(capacity: 2);
        var delay = TimeSpan.FromMilliseconds(500);
        var clock = Stopwatch.StartNew();

        var held = new[] { tarpit.HoldAsync(delay, CancellationToken.None), tarpit.HoldAsync(delay, CancellationToken.None) };
        Assert.False(await tarpit.HoldAsync(delay, CancellationToken.None));
        Assert.True(clock.Elapsed < delay, "the refusal over capacity waited");
        var answers = await Task.WhenAll(held);
        Assert.All(answers, Assert.True);
        Assert.True(clock.Elapsed >= delay * 0.9);

        // Room again once the held ones are answered; a client that goes away ends its wait.
        using var gone = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        clock.Restart();
        Assert.True(await tarpit.HoldAsync(TimeSpan.FromSeconds(30), gone.Token));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
        Assert.False(await tarpit.HoldAsync(TimeSpan.Zero, CancellationToken.None));
    }
}
