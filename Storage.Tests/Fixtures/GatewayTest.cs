namespace Storage.Tests.Fixtures;

/// <summary>A test class with a fresh gateway (8 folder nodes, SQLite) per test.</summary>
public abstract class GatewayTest : IAsyncLifetime
{
    protected GatewayHost Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Gateway = await GatewayHost.StartAsync();
        await SeedAsync();
    }

    public virtual async Task DisposeAsync() => await Gateway.DisposeAsync();

    /// <summary>Stores what every test of the class starts with.</summary>
    protected virtual Task SeedAsync() => Task.CompletedTask;
}
