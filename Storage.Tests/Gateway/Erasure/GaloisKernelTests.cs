using Storage.Gateway.Objects.Erasure;
using Storage.Tests.Fixtures;

namespace Storage.Tests.Gateway.Erasure;

public class GaloisKernelTests
{
    private static readonly int[] Lengths = [.. Enumerable.Range(0, 200), 255, 256, 257, 1023, 1024, 4095, 4097, 65537, 1_000_003];
    private static readonly byte[] Factors = [0, 1, 2, 3, 0x1D, 0x80, 0x8E, 0xFF, 0x53, 0xCA];

    public static TheoryData<string> VectorKernels()
    {
        var data = new TheoryData<string>();
        foreach (var kernel in GaloisKernel.Supported().Skip(1))
        {
            data.Add(kernel.Name);
        }

        return data;
    }

    [Fact]
    public void This_machine_offers_a_vector_kernel()
    {
        // The environment notes promise AVX2 and GFNI here; if that changes, the performance figures do too.
        Assert.NotEqual("scalar", GaloisKernel.Best.Name);
    }

    [Theory]
    [MemberData(nameof(VectorKernels))]
    public void Vector_kernel_agrees_with_scalar_reference_on_all_lengths_and_tails(string name)
    {
        var kernel = GaloisKernel.Supported().Single(k => k.Name == name);
        var reference = new ScalarKernel();
        foreach (var length in Lengths)
        {
            var source = TestData.Bytes(length, length);
            var initial = TestData.Bytes(length, length + 1);
            foreach (var factor in Factors)
            {
                var expected = new byte[length];
                var actual = new byte[length];
                reference.Multiply(factor, source, expected);
                kernel.Multiply(factor, source, actual);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"{name} Multiply factor {factor} length {length}");

                var expectedAdd = (byte[])initial.Clone();
                var actualAdd = (byte[])initial.Clone();
                reference.MultiplyAdd(factor, source, expectedAdd);
                kernel.MultiplyAdd(factor, source, actualAdd);
                Assert.True(expectedAdd.AsSpan().SequenceEqual(actualAdd), $"{name} MultiplyAdd factor {factor} length {length}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(VectorKernels))]
    public void Vector_kernel_agrees_for_every_factor(string name)
    {
        var kernel = GaloisKernel.Supported().Single(k => k.Name == name);
        var source = new byte[256 + 13];
        for (var i = 0; i < source.Length; i++)
        {
            source[i] = (byte)i;
        }

        for (var factor = 0; factor < 256; factor++)
        {
            var actual = new byte[source.Length];
            kernel.Multiply((byte)factor, source, actual);
            for (var i = 0; i < source.Length; i++)
            {
                Assert.Equal(GaloisField.MultiplySlow((byte)factor, source[i]), actual[i]);
            }
        }
    }

    [Fact]
    public void Scalar_reference_is_the_bitwise_product()
    {
        var source = TestData.Bytes(1000, 5);
        var actual = new byte[source.Length];
        new ScalarKernel().Multiply(0x8E, source, actual);
        Assert.All(Enumerable.Range(0, source.Length), i => Assert.Equal(GaloisField.MultiplySlow(0x8E, source[i]), actual[i]));
    }
}
