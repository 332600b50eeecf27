using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Storage.ServiceDefaults.Discovery;
using Storage.Tests.Fixtures;

namespace Storage.Tests.ServiceDefaults;

public class ServiceDiscoveryTests
{
    private static ServiceEndpointResolver Resolver(params (string Key, string Value)[] settings) =>
        new(new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build());

    [Fact]
    public void A_logical_name_resolves_from_services_configuration_keeping_path_and_query()
    {
        var resolver = Resolver(("services:gateway:http:0", "http://127.0.0.1:5123"));
        Assert.Equal(new Uri("http://127.0.0.1:5123/object/abc?x=1"), resolver.Resolve(new Uri("http://gateway/object/abc?x=1")));
    }

    [Fact]
    public void Https_plus_http_prefers_https_and_falls_back_to_http()
    {
        var both = Resolver(("services:api:http:0", "http://127.0.0.1:1"), ("services:api:https:0", "https://127.0.0.1:2"));
        Assert.Equal(new Uri("https://127.0.0.1:2/"), both.Resolve(new Uri("https+http://api/")));
        var httpOnly = Resolver(("services:api:http:0", "http://127.0.0.1:1"));
        Assert.Equal(new Uri("http://127.0.0.1:1/"), httpOnly.Resolve(new Uri("https+http://api/")));
    }

    [Fact]
    public void Real_host_names_and_unknown_services_are_left_alone()
    {
        var resolver = Resolver(("services:gateway:http:0", "http://127.0.0.1:5123"));
        Assert.Null(resolver.Resolve(new Uri("http://example.com/")));
        Assert.Null(resolver.Resolve(new Uri("http://127.0.0.1:80/")));
        Assert.Null(resolver.Resolve(new Uri("http://other/")));
    }

    [Fact]
    public async Task An_http_client_from_service_defaults_reaches_a_service_by_name()
    {
        await using var server = await LoopbackServer.StartAsync(context => context.Response.WriteAsync($"hello from {context.Request.Path}"));
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["services:backend:http:0"] = server.BaseAddress.ToString();
        builder.AddServiceDefaults();
        using var host = builder.Build();
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient();
        Assert.Equal("hello from /greet", await client.GetStringAsync(new Uri("http://backend/greet")));
    }
}
