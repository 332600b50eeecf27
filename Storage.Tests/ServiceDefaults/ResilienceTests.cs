using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Storage.Tests.Fixtures;

namespace Storage.Tests.ServiceDefaults;

public class ResilienceTests
{
    [Fact]
    public async Task Transient_failures_are_retried_until_the_service_answers()
    {
        var calls = 0;
        await using var server = await LoopbackServer.StartAsync(context =>
        {
            context.Response.StatusCode = Interlocked.Increment(ref calls) <= 2 ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
            return Task.CompletedTask;
        });
        using var host = CreateHost();
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient();
        using var response = await client.GetAsync(server.BaseAddress);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task A_streamed_body_is_never_resent()
    {
        var calls = 0;
        await using var server = await LoopbackServer.StartAsync(async context =>
        {
            Interlocked.Increment(ref calls);
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        });
        using var host = CreateHost();
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient();
        using var response = await client.PostAsync(server.BaseAddress, new StreamContent(new MemoryStream(new byte[1000])));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task Client_errors_are_not_retried()
    {
        var calls = 0;
        await using var server = await LoopbackServer.StartAsync(context =>
        {
            Interlocked.Increment(ref calls);
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        using var host = CreateHost();
        var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient();
        using var response = await client.GetAsync(server.BaseAddress);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(1, calls);
    }

    private static IHost CreateHost()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.AddServiceDefaults();
        return builder.Build();
    }
}
