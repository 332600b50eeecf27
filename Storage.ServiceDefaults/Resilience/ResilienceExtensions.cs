using Microsoft.Extensions.DependencyInjection;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Storage.ServiceDefaults.Resilience;

public static class ResilienceExtensions
{
    /// <summary>
    /// The standard pipeline Aspire users expect: a total timeout, retries with jittered exponential back-off
    /// for transient failures, a circuit breaker, and a per-attempt timeout. Retries only resend requests
    /// without a body or with a buffered one, because a streamed body cannot be replayed.
    /// </summary>
    public static IHttpClientBuilder AddStandardResilience(this IHttpClientBuilder builder)
    {
        builder.Services.AddKeyedSingleton(builder.Name, (_, _) => CreateStandardPipeline());
        return builder.AddHttpMessageHandler(services =>
            new ResilienceHandler(services.GetRequiredKeyedService<ResiliencePipeline<HttpResponseMessage>>(builder.Name)));
    }

    public static ResiliencePipeline<HttpResponseMessage> CreateStandardPipeline()
    {
        var isTransient = new PredicateBuilder<HttpResponseMessage>()
            .Handle<HttpRequestException>()
            .Handle<TimeoutRejectedException>()
            .HandleResult(ResilienceHandler.IsTransient)
            .Build();
        return new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddTimeout(TimeSpan.FromSeconds(30))
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = 3,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
                ShouldHandle = args => ValueTask.FromResult(IsReplayable(args.Context) && isTransient(args.Outcome)),
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                FailureRatio = 0.5,
                MinimumThroughput = 10,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(5),
                ShouldHandle = args => ValueTask.FromResult(isTransient(args.Outcome)),
            })
            .AddTimeout(TimeSpan.FromSeconds(10))
            .Build();
    }

    private static bool IsReplayable(ResilienceContext context) =>
        context.Properties.TryGetValue(ResilienceHandler.RequestKey, out var request)
        && request.Content is null or ByteArrayContent;
}
