using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Storage.Gateway.Api;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Api;

public sealed class AdminApiTests : GatewayTest
{
    private readonly TempDirectory _extra = new("extra-nodes");
    protected override async ValueTask DisposeTestAsync()
    {
        await base.DisposeTestAsync();
        _extra.Dispose();
    }

    [Fact]
    public async Task Nodes_view_shows_id_address_state_bytes_and_parts()
    {
        (await Gateway.Client.PutAsync("/object/one", new ByteArrayContent(TestData.Bytes(1_200_000, 1)))).EnsureSuccessStatusCode();
        var view = await Gateway.Client.GetFromJsonAsync<JsonElement>("/admin/nodes");
        var nodes = view.GetProperty("nodes").EnumerateArray().ToArray();
        Assert.Equal(8, nodes.Length);
        Assert.All(nodes, n =>
        {
            Assert.StartsWith("node", n.GetProperty("id").GetString(), StringComparison.Ordinal);
            Assert.StartsWith(Gateway.DataPath, n.GetProperty("address").GetString(), StringComparison.Ordinal);
            Assert.Equal("up", n.GetProperty("state").GetString());
            Assert.Equal(1, n.GetProperty("partCount").GetInt64());
            Assert.Equal(200_004, n.GetProperty("bytesUsed").GetInt64());
        });
        Assert.False(view.GetProperty("tolerance").GetProperty("reduced").GetBoolean());
        Assert.Equal(2, view.GetProperty("tolerance").GetProperty("nodeFailuresTolerated").GetInt32());
    }

    [Fact]
    public async Task A_node_added_at_run_time_receives_parts_and_survives_a_restart()
    {
        using var add = await Gateway.Client.PostAsJsonAsync("/admin/nodes", new { path = Path.Combine(_extra.Path, "n9") });
        Assert.Equal(HttpStatusCode.Created, add.StatusCode);
        Assert.Equal("node9", (await add.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());

        for (var i = 0; i < 20; i++)
        {
            (await Gateway.Client.PutAsync($"/object/grow{i}", new ByteArrayContent(TestData.Bytes(600_000, i)))).EnsureSuccessStatusCode();
        }

        Assert.NotEmpty(Directory.GetFiles(Path.Combine(_extra.Path, "n9"), "*", SearchOption.AllDirectories));
        var dataPath = Gateway.DataPath;
        await Gateway.StopAsync();

        await using var restarted = await GatewayHost.StartAsync(dataPath: dataPath);
        var view = await restarted.Client.GetFromJsonAsync<JsonElement>("/admin/nodes");
        Assert.Equal(9, view.GetProperty("nodes").GetArrayLength());
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(TestData.Bytes(600_000, i), await restarted.Client.GetByteArrayAsync($"/object/grow{i}"));
        }
    }

    [Fact]
    public async Task Adding_a_node_twice_or_without_an_absolute_path_is_refused()
    {
        var path = Path.Combine(_extra.Path, "dup");
        (await Gateway.Client.PostAsJsonAsync("/admin/nodes", new { id = "extra", path })).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Conflict, (await Gateway.Client.PostAsJsonAsync("/admin/nodes", new { id = "extra", path = path + "2" })).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await Gateway.Client.PostAsJsonAsync("/admin/nodes", new { path })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Client.PostAsJsonAsync("/admin/nodes", new { path = "relative/dir" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Client.PostAsJsonAsync("/admin/nodes", new { id = "../x", path = path + "3" })).StatusCode);
        using var malformed = new StringContent("{not json", System.Text.Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.BadRequest, (await Gateway.Client.PostAsync("/admin/nodes", malformed)).StatusCode);
        Assert.Equal(9, (await Gateway.Client.GetFromJsonAsync<JsonElement>("/admin/nodes")).GetProperty("nodes").GetArrayLength());
    }
}

public sealed class AdminAccessTests
{
    [Theory]
    [InlineData("127.0.0.1", null, null, true)]
    [InlineData("::1", null, null, true)]
    [InlineData("10.1.2.3", null, null, false)]
    [InlineData("10.1.2.3", "Bearer s3cret", "s3cret", true)]
    [InlineData("10.1.2.3", "bearer s3cret ", "s3cret", true)]
    [InlineData("10.1.2.3", "Bearer wrong", "s3cret", false)]
    [InlineData("127.0.0.1", null, "s3cret", false)]
    [InlineData("10.1.2.3", "Basic s3cret", "s3cret", false)]
    public void Admin_access_is_loopback_only_without_a_key_and_key_only_with_one(string remote, string? authorization, string? key, bool allowed) =>
        Assert.Equal(allowed, AdminAccess.IsAllowed(System.Net.IPAddress.Parse(remote), authorization, key));

    [Fact]
    public async Task With_an_admin_key_requests_without_it_are_refused()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string> { ["Storage:AdminKey"] = "s3cret" });
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.Client.GetAsync("/admin/nodes")).StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/nodes");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "s3cret");
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.SendAsync(request)).StatusCode);
        // The object and file APIs do not need the admin key.
        Assert.Equal(HttpStatusCode.NotFound, (await gateway.Client.GetAsync("/object/none")).StatusCode);
    }
}

public sealed class ReducedClusterTests
{
    [Fact]
    public async Task Six_nodes_double_up_parts_and_the_admin_view_says_tolerance_is_reduced()
    {
        using var data = new TempDirectory("reduced");
        var settings = Enumerable.Range(1, 6).ToDictionary(i => $"Storage:Nodes:n{i}", i => Path.Combine(data.Path, $"n{i}"));
        await using var gateway = await GatewayHost.StartAsync(settings, data.Path);
        var bytes = TestData.Bytes(2_000_000, 3);
        (await gateway.Client.PutAsync("/object/doubled", new ByteArrayContent(bytes))).EnsureSuccessStatusCode();

        var parts = Enumerable.Range(1, 6).Select(i => Directory.GetFiles(Path.Combine(data.Path, $"n{i}", "parts"), "*", SearchOption.AllDirectories).Length).ToArray();
        Assert.Equal(8, parts.Sum());
        Assert.Equal(2, parts.Max());

        var tolerance = (await gateway.Client.GetFromJsonAsync<JsonElement>("/admin/nodes")).GetProperty("tolerance");
        Assert.True(tolerance.GetProperty("reduced").GetBoolean());
        Assert.Equal(1, tolerance.GetProperty("nodeFailuresTolerated").GetInt32());
        Assert.Contains("Reduced tolerance", tolerance.GetProperty("summary").GetString(), StringComparison.Ordinal);
        Assert.Equal(bytes, await gateway.Client.GetByteArrayAsync("/object/doubled"));
    }
}
