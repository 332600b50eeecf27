namespace Storage.Tests.Aspire;

/// <summary>One whole topology at a time: each is a dozen processes (or containers) on a 2-core machine.</summary>
[CollectionDefinition(Name)]
public sealed class AspireCollection
{
    public const string Name = "Aspire topology";
}
