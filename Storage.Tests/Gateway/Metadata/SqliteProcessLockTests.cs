using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Metadata;

/// <summary>SQLite metadata serves one gateway process: its record cache is only coherent while no other process writes.</summary>
public sealed class SqliteProcessLockTests
{
    [Fact]
    public async Task A_second_gateway_process_on_the_same_sqlite_metadata_refuses_to_start_and_one_after_a_kill_starts()
    {
        await using var first = await GatewayProcess.StartAsync();
        (await first.Client.PutAsync("/object/kept", new ByteArrayContent(TestData.Bytes(100, 1)))).EnsureSuccessStatusCode();

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayProcess.StartAsync(dataPath: first.DataPath));
        Assert.Contains("is in use by another gateway process", refused.Message, StringComparison.Ordinal);
        Assert.Equal(TestData.Bytes(100, 1), await first.Client.GetByteArrayAsync("/object/kept"));

        await first.KillAsync();
        await using var next = await GatewayProcess.StartAsync(dataPath: first.DataPath);
        Assert.Equal(TestData.Bytes(100, 1), await next.Client.GetByteArrayAsync("/object/kept"));
    }
}
