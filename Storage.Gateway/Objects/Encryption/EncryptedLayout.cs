namespace Storage.Gateway.Objects.Encryption;

/// <summary>
/// Where plaintext lands in ciphertext: each part is its own run of AES-GCM blocks (<c>BlockSize</c> plaintext bytes,
/// the last one shorter, each followed by its 16-byte tag), parts one after another. So a ranged read maps to whole
/// blocks of ciphertext, and nothing before the range's first block is read or decrypted.
/// </summary>
public static class EncryptedLayout
{
    public const int TagBytes = 16;

    public static long CiphertextLength(long plaintextLength, int blockSize) =>
        plaintextLength + ((plaintextLength + blockSize - 1) / blockSize * TagBytes);

    /// <summary>The ciphertext that holds plaintext bytes [<paramref name="offset"/>, +<paramref name="length"/>) of parts of these sizes, and where decryption starts.</summary>
    public static CiphertextRange Locate(IReadOnlyList<long> partSizes, int blockSize, long offset, long length)
    {
        long plainBefore = 0, cipherBefore = 0;
        for (var part = 0; part < partSizes.Count; part++)
        {
            var size = partSizes[part];
            if (offset < plainBefore + size || (length == 0 && part == partSizes.Count - 1))
            {
                var block = Math.Max(0, offset - plainBefore) / blockSize;
                var start = cipherBefore + (block * (blockSize + TagBytes));
                var end = CipherEnd(partSizes, blockSize, offset + length);
                return new CiphertextRange(start, end - start, part, block, offset - plainBefore - (block * blockSize));
            }

            plainBefore += size;
            cipherBefore += CiphertextLength(size, blockSize);
        }

        return new CiphertextRange(cipherBefore, 0, partSizes.Count, 0, 0);
    }

    /// <summary>The end of the ciphertext block that holds the plaintext byte just before <paramref name="plainEnd"/>.</summary>
    private static long CipherEnd(IReadOnlyList<long> partSizes, int blockSize, long plainEnd)
    {
        long plainBefore = 0, cipherBefore = 0;
        foreach (var size in partSizes)
        {
            if (plainEnd <= plainBefore + size)
            {
                var within = plainEnd - plainBefore;
                var blocks = (within + blockSize - 1) / blockSize;
                return cipherBefore + Math.Min(CiphertextLength(size, blockSize), blocks * (blockSize + TagBytes));
            }

            plainBefore += size;
            cipherBefore += CiphertextLength(size, blockSize);
        }

        return cipherBefore;
    }
}

/// <summary>A ciphertext range to read: its start and length, and the part, block and plaintext skip decryption starts with.</summary>
public sealed record CiphertextRange(long Offset, long Length, int Part, long Block, long Skip);
