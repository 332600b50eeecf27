using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Storage.Tests.Fixtures;

namespace Storage.Tests.ServiceDefaults;

/// <summary>Service discovery as Aspire configures it (<c>services:&lt;name&gt;:&lt;scheme&gt;:&lt;index&gt;</c>), through an HttpClient from the service defaults.</summary>
public class ServiceDiscoveryTests
{
    [Fact]
    public async Task A_logical_name_reaches_the_service_keeping_path_and_query()
    {
        await using var server = await EchoServerAsync();
        using var host = CreateHost(("services:backend:http:0", server.BaseAddress.ToString()));
        Assert.Equal("/greet?x=1", await Client(host).GetStringAsync(new Uri("http://backend/greet?x=1")));
    }

    [Fact]
    public async Task Https_plus_http_falls_back_to_http_when_the_service_has_no_https_endpoint()
    {
        await using var server = await EchoServerAsync();
        using var host = CreateHost(("services:api:http:0", server.BaseAddress.ToString()));
        Assert.Equal("/", await Client(host).GetStringAsync(new Uri("https+http://api/")));
    }

    [Fact]
    public async Task Real_addresses_are_used_as_they_are()
    {
        await using var server = await EchoServerAsync();
        using var host = CreateHost(("services:other:http:0", "http://127.0.0.1:1"));
        Assert.Equal("/direct", await Client(host).GetStringAsync(new Uri(server.BaseAddress, "/direct")));
    }

    private static Task<LoopbackServer> EchoServerAsync() =>
        LoopbackServer.StartAsync(context => context.Response.WriteAsync($"{context.Request.Path}{context.Request.QueryString}"));

    private static IHost CreateHost(params (string Key, string Value)[] settings)
    {
        var builder = Host.CreateApplicationBuilder();
        foreach (var (key, value) in settings)
        {
            builder.Configuration[key] = value;
        }

        builder.AddServiceDefaults();
        return builder.Build();
    }

    private static HttpClient Client(IHost host) => host.Services.GetRequiredService<IHttpClientFactory>().CreateClient();
}
