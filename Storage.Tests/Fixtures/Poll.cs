namespace Storage.Tests.Fixtures;

/// <summary>Waiting for real processes to reach a state: the condition is checked every 250 ms until it holds or patience runs out.</summary>
public static class Poll
{
    /// <exception cref="TimeoutException">The condition did not hold within <paramref name="patience"/>; the message names <paramref name="what"/>.</exception>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan patience, string what)
    {
        var deadline = DateTime.UtcNow + patience;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Gave up waiting {patience.TotalSeconds:0} s for {what}.");
            }

            await Task.Delay(250);
        }
    }
}
