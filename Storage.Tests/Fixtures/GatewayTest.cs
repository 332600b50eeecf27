namespace Storage.Tests.Fixtures;

/// <summary>A test class with a fresh gateway (8 folder nodes, SQLite) per test.</summary>
public abstract class GatewayTest : IAsyncLifetime
{
    protected GatewayHost Gateway { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Gateway = await GatewayHost.StartAsync();
        await SeedAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await DisposeTestAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the gateway; a derived class that keeps more releases that too (and calls this).</summary>
    protected virtual async ValueTask DisposeTestAsync() => await Gateway.DisposeAsync();

    /// <summary>Stores what every test of the class starts with.</summary>
    protected virtual Task SeedAsync() => Task.CompletedTask;
}
