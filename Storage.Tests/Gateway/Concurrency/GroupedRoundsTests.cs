using Storage.Gateway.Concurrency;
using Storage.Gateway.Metadata.Redis;

namespace Storage.Tests.Gateway.Concurrency;

/// <summary>Group commit rounds (Redis WAIT, a folder node's syncfs): callers during a round share the next one, and no caller is answered by a round sent before it arrived.</summary>
public sealed class GroupedRoundsTests
{
    [Fact]
    public async Task Callers_that_arrive_while_a_wait_is_in_flight_share_the_next_one()
    {
        var rounds = new List<TaskCompletionSource<long>>();
        var sent = 0;
        var grouped = new GroupedRounds<long>(() =>
        {
            var round = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (rounds)
            {
                rounds.Add(round);
            }

            Interlocked.Increment(ref sent);
            return round.Task;
        });

        var first = grouped.WaitAsync(default);
        Assert.Equal(1, Volatile.Read(ref sent));
        var joiners = Enumerable.Range(0, 10).Select(_ => grouped.WaitAsync(default)).ToArray();

        // The joiners came after the first WAIT was sent: its answer must not be theirs.
        rounds[0].SetResult(1);
        Assert.Equal(1, await first);
        Assert.All(joiners, j => Assert.False(j.IsCompleted));

        await WaitUntilAsync(() => Volatile.Read(ref sent) == 2);
        rounds[1].SetResult(2);
        Assert.All(await Task.WhenAll(joiners), replicas => Assert.Equal(2, replicas));
        Assert.Equal(2, Volatile.Read(ref sent));
    }

    [Fact]
    public async Task A_failed_wait_fails_its_round_and_the_next_round_is_sent_anew()
    {
        var attempt = 0;
        var grouped = new GroupedRounds<long>(() => Interlocked.Increment(ref attempt) == 1
            ? Task.FromException<long>(new RedisUnavailableException("Redis is away."))
            : Task.FromResult(1L));

        await Assert.ThrowsAsync<RedisUnavailableException>(() => grouped.WaitAsync(default));
        Assert.Equal(1, await grouped.WaitAsync(default));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }
}
