using System.Diagnostics;
using OpenTelemetry.Trace;

namespace Storage.ServiceDefaults.Telemetry;

/// <summary>
/// Records a trace only when it starts at an operation: a request served, or a unit of work a service opens a span
/// for (a repair, a rebuild). Outgoing calls with nothing around them (a monitor's probe of every node, a loop polling
/// Redis) would each start a trace of one span, thousands an hour, and bury the requests people look for.
/// Spans with a parent follow the parent's decision, as <see cref="ParentBasedSampler"/> does.
/// </summary>
public sealed class OperationRootSampler : Sampler
{
    private static readonly SamplingResult Record = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    public OperationRootSampler() => Description = nameof(OperationRootSampler);

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
    {
        if (samplingParameters.ParentContext.TraceId != default)
        {
            return samplingParameters.ParentContext.TraceFlags.HasFlag(ActivityTraceFlags.Recorded) ? Record : Drop;
        }

        return samplingParameters.Kind == ActivityKind.Client ? Drop : Record;
    }
}
