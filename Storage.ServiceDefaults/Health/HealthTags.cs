namespace Storage.ServiceDefaults.Health;

public static class HealthTags
{
    /// <summary>Checks that say the process itself is running; /alive runs only these.</summary>
    public const string Live = "live";
}
