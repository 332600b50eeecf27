using Storage.Gateway.Nodes;

namespace Storage.Tests.Gateway.Nodes;

/// <summary>Group durability's rounds with a flush the test holds: who waits for which round, and errors.</summary>
public sealed class FlushRoundsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_waiter_that_arrives_during_a_flush_waits_for_the_next_one_and_waiters_meanwhile_share_it()
    {
        var flushes = 0;
        using var firstStarted = new SemaphoreSlim(0);
        using var releaseFirst = new SemaphoreSlim(0);
        var rounds = new FlushRounds(() =>
        {
            if (Interlocked.Increment(ref flushes) == 1)
            {
                firstStarted.Release();
                releaseFirst.Wait(Patience);
            }
        });

        var early = rounds.WaitAsync(CancellationToken.None);
        Assert.True(await firstStarted.WaitAsync(Patience));

        // The first flush may have started before these writes: they must not be answered by it.
        var late = Enumerable.Range(0, 10).Select(_ => rounds.WaitAsync(CancellationToken.None)).ToArray();
        releaseFirst.Release();
        await early.WaitAsync(Patience);
        await Task.WhenAll(late).WaitAsync(Patience);
        Assert.Equal(2, flushes);

        // Nothing waiting: no flush runs; the next waiter starts one again.
        await rounds.WaitAsync(CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(3, flushes);
    }

    [Fact]
    public async Task A_failed_flush_fails_its_waiters_and_the_next_round_flushes_again()
    {
        var fail = true;
        var rounds = new FlushRounds(() =>
        {
            if (fail)
            {
                throw new IOException("disk gone");
            }
        });

        await Assert.ThrowsAsync<IOException>(() => rounds.WaitAsync(CancellationToken.None).WaitAsync(Patience));
        fail = false;
        await rounds.WaitAsync(CancellationToken.None).WaitAsync(Patience);
    }
}
