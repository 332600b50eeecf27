using Storage.Gateway.Placement;

namespace Storage.Tests.Gateway.Placement;

public class RendezvousPlacementTests
{
    private static PlacementCandidate[] EqualNodes(int count) =>
        Enumerable.Range(1, count).Select(i => new PlacementCandidate($"node{i}", 1.0)).ToArray();

    [Fact]
    public void Same_identity_gets_the_same_nodes_and_different_identities_differ()
    {
        var nodes = EqualNodes(12);
        var first = RendezvousPlacement.Assign("bucket/key", nodes, 8);
        Assert.Equal(first, RendezvousPlacement.Assign("bucket/key", nodes.Reverse().ToArray(), 8));
        var distinctChoices = Enumerable.Range(0, 50)
            .Select(i => string.Join(",", RendezvousPlacement.Assign($"bucket/key{i}", nodes, 8)))
            .Distinct()
            .Count();
        Assert.True(distinctChoices > 40, $"only {distinctChoices} distinct placements for 50 ids");
    }

    [Fact]
    public void Shards_go_to_distinct_nodes_when_there_are_enough()
    {
        var nodes = EqualNodes(8);
        for (var i = 0; i < 200; i++)
        {
            var assignment = RendezvousPlacement.Assign($"o{i}", nodes, 8);
            Assert.Equal(8, assignment.Distinct().Count());
        }
    }

    [Fact]
    public void With_fewer_nodes_shards_double_up_evenly()
    {
        var nodes = EqualNodes(6);
        var assignment = RendezvousPlacement.Assign("object", nodes, 8);
        var perNode = assignment.GroupBy(n => n).Select(g => g.Count()).ToArray();
        Assert.Equal(6, perNode.Length);
        Assert.Equal(2, perNode.Max());
        Assert.Equal(1, perNode.Min());
    }

    [Fact]
    public void Equal_nodes_receive_equal_shares()
    {
        var nodes = EqualNodes(10);
        var counts = nodes.ToDictionary(n => n.NodeId, _ => 0);
        const int Objects = 20_000;
        for (var i = 0; i < Objects; i++)
        {
            foreach (var node in RendezvousPlacement.Assign($"bucket/object-{i}", nodes, 8))
            {
                counts[node]++;
            }
        }

        var mean = Objects * 8.0 / nodes.Length;
        Assert.All(counts, c => Assert.InRange(c.Value, mean * 0.97, mean * 1.03));
    }

    [Fact]
    public void Emptier_nodes_are_favoured()
    {
        var nodes = EqualNodes(16).Select((n, i) => i == 0 ? n with { Weight = 0.2 } : n).ToArray();
        var fullNodeHits = 0;
        var typicalNodeHits = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var assignment = RendezvousPlacement.Assign($"k{i}", nodes, 8);
            fullNodeHits += assignment.Count(n => n == "node1");
            typicalNodeHits += assignment.Count(n => n == "node2");
        }

        Assert.True(fullNodeHits < typicalNodeHits * 0.6, $"fuller node got {fullNodeHits}, a typical node {typicalNodeHits}");
    }

    [Fact]
    public void Adding_a_node_moves_only_shards_that_land_on_it()
    {
        var before = EqualNodes(10);
        var after = EqualNodes(11);
        var moved = 0;
        var movedToNewNode = 0;
        const int Objects = 5_000;
        for (var i = 0; i < Objects; i++)
        {
            var a = RendezvousPlacement.Rank($"o{i}", before).Take(8).ToHashSet();
            var b = RendezvousPlacement.Rank($"o{i}", after).Take(8).ToHashSet();
            var changed = b.Except(a).ToArray();
            moved += changed.Length;
            movedToNewNode += changed.Count(n => n == "node11");
        }

        Assert.Equal(moved, movedToNewNode);
        Assert.InRange(moved / (double)Objects, 8.0 / 11 * 0.9, 8.0 / 11 * 1.1);
    }
}
