/*
 * test_vectors.c - known-answer tests for libpluton's Ed25519 paths.
 *
 * Everything goes through libpluton's public API (nacre/pluton.h): a seed is
 * imported as a key handle, the public half is exported, signatures are made
 * with nacre_pluton_sign() and checked with nacre_pluton_verify().
 *
 *   rfc8032_vectors     RFC 8032 section 7.1: TEST 1, 2, 3, 1024, SHA(abc),
 *                       each followed by mutations that must not verify
 *   wycheproof_verify   every test of tests/vectors/ed25519_test.json
 *   wycheproof_sign     every group's key imported; every "valid" signature
 *                       reproduced byte for byte by nacre_pluton_sign()
 *
 * Each RFC 8032 vector below was cross-checked with OpenSSL 3.0 before it was
 * written here: the seed, wrapped as PKCS#8, gives the listed public key
 * (`openssl pkey -pubout`) and signs the message to the listed signature
 * (`openssl pkeyutl -sign -rawin`; TEST 1's empty message through the
 * OpenSSL-backed pyca/cryptography, because pkeyutl 3.0 refuses empty input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include <nacre/board_host.h>
#include <nacre/pluton.h>

#include "test_support.h"

#define SIG_BYTES NACRE_PLUTON_SIGNATURE_BYTES
#define PK_BYTES NACRE_PLUTON_PUBLICKEY_BYTES
#define SEED_BYTES NACRE_PLUTON_SEED_BYTES

/* ---- RFC 8032 section 7.1 ------------------------------------------------- */

struct rfc8032_vector {
    const char *name;
    const char *seed_hex;
    const char *pk_hex;
    const char *msg_hex;
    const char *sig_hex;
};

static const struct rfc8032_vector rfc8032_vectors[] = {
    {
        "TEST 1",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    {
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
    {
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    },
    {
        "TEST 1024",
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
        "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
        "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
        "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
        "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
        "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
        "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
        "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
        "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
        "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
        "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
        "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
        "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
        "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
        "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
        "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
        "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
        "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
        "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
        "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
        "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
        "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
        "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
        "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
        "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
        "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
        "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
        "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
        "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
        "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
        "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
        "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
        "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    },
    {
        "TEST SHA(abc)",
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
        "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    },
};

/*
 * Seeds of the keys in tests/vectors/ed25519_test.json, by public key.
 *
 * The Wycheproof file in this tree uses the v1 schema, whose groups carry only
 * the public key. The private keys come from the older Wycheproof
 * eddsa_test.json (schema eddsa_verify_schema.json, "key": {"sk", "pk"}), and
 * for 100fdf47... from BoringSSL's ed25519 test ("S just under the bound").
 * Every seed was checked with OpenSSL to give its public key, and every
 * "valid" signature of the file was reproduced from these seeds with OpenSSL.
 * The test checks the public key again through libpluton. If a group carries
 * "key": {"sk"} itself (old schema), that seed is used instead.
 */
struct seed_entry {
    const char *pk_hex;
    const char *seed_hex;
};

static const struct seed_entry wycheproof_seeds[] = {
    {"7d4d0e7f6153a69b6242b522abbee685fda4420f8834b108c3bdae369ef549fa",
     "add4bb8103785baf9ac534258e8aaf65f5f1adb5ef5f3df19bb80ab989c4d64b"},
    {"a12c2beb77265f2aac953b5009349d94155a03ada416aad451319480e983ca4c",
     "0a23a20072891237aa0864b5765139514908787878cd77135a0059881d313f00"},
    {"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"},
    {"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
     "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"},
    {"fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
     "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7"},
    {"278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5"},
    {"100fdf47fb94f1536a4f7c3fda27383fa03375a8f527c537e6f1703c47f94f86",
     "a59a4130fcfd293c9737db8f14177ce034305cf34bdc4346f24b4d262e07b5c2"},
    {"8fd659b77b558ed93882c1157438450ac86ec62d421d568e98ee236f3810295a",
     "d7ad3f1f6bbe0477c3c357a806a19eb41ae3f94025035bc87f281f8ee9fc0e34"},
    {"2a606bf67ac770c607038b004101b325edb569efd3413d2d1f2c3e6b4e6e3082",
     "ad9b22793336fcdac10e136c4deea599be187a38eef91c1cf7c7a4ec884dda08"},
    {"c9c946cbc5544ac74eef491f07c5881c16faf7ec31ce4aa91bb60ae7b4539051",
     "04a6553d68a9baef78a2175af375458eaa01cdb77350c61e282ef5f0c7116599"},
    {"32ad026f693d0d2afe7f4388d91c4c964426fcb9e3665c3ebd8650009b815c8e",
     "c367c8d2ebeeecd70c1e8985b70c3808b75657f243b21ba4f322792540e92257"},
    {"c29ec1894e06d27b4e40486b4fa5063d66a746c7f9c323b12203c03b72b8b78a",
     "56c1e22d616cbb6dea869288b4b1c02bb98696583c2f6e650013a03e17049c62"},
    {"cfda5b899e35764c5229e59295fe1222b7ddce176643697c29e46ecbba10cf10",
     "b7d2f64276df417fed27d8e15b4e90f6fd93dace707294c338bd32bc4bbd8fdb"},
    {"529919c9c780985a841c42ba6c180ff2d67a276ccfbe281080e47ab71a758f56",
     "7d597c3b7283929d07ed8f01f31d2596823e5e46ab226c7be4234d1a9dcaef37"},
    {"2252b3d57c74cbf8bc460dc2e082847926bc022f09ab6ae95756362bfd1167c1",
     "f401cee4bfb1732f0e9b8d8ba79469565c3115296141dbdf7e9c311a0ac1823b"},
    {"c0a773110f975de3732355bb7ec7f0c41c091c0252966070205516693b992a4a",
     "3d658956410377d0644676d2599542412a4f3b0e4eadfb7f3f836615f42b18bc"},
    {"54cda623245759ad6d43e620a606908befc633d60792bc7798447a0ef38e7311",
     "bccb61323840c2a96fc36f7e54ea6c8e55f9d221f7f05791ed60025e06064439"},
    {"2362bac514d5fad33802642e979a1e82de6eb6f1bcbf6a5b304f2bb02b9e57fe",
     "f2d3023b9c19e241748bc4039a7a43c595701f23675505015213a8a2a0274c1b"},
    {"037b55b427dc8daa0f80fcebaf0846902309f8a6cf18b465c0ce9b6539629ac8",
     "12fc31c40d5a7af71e05424623ba970b670cf6ecb44cda6120210e6370245ddb"},
    {"9c0007698f177998a7666c7cf7973e2b88e9c4946e33804a7bbe8968d2394b2e",
     "e54bcc4ce95db48072c7b49575617dd1f9403b072105259ca06d8d01530d07fb"},
    {"ed3a6f9721dc9729c1f76635bcf080d7036e1c2f0228654ccbbe1e738c17b963",
     "de7f2bb12b875a79ccb057344b2867a2edb25dbc1ecfc8cb07c69e2dd3df3e02"},
    {"4abfb535313705a6570018440cdec1a3ae33e51f352112fa6acbd0c6bc3ea859",
     "ea792b7a9d420bf74f6a82a78e58a2cc94f3ab3eb931270611b1f8da75c3d60b"},
    {"4f2162e6bf03a712db0efa418b7e7006e23871d9d7ec555a313885c4afd96385",
     "eca28645f63646575ee2e4bdb36f51838142ce2474664c2b66ef054b37af6124"},
    {"0717d75ce27ea181ed5a30e6456c649b5cf453a6b4c12cd3f9fd16b31e0c25cd",
     "728238602b7e6753b3f49eb0fc4cde38c7bb14ab58ddcaef2537275b13e99dd3"},
    {"db5b9eab7e84e5a13505865fa711c9c896c898609fc11fc9bc1e55028f9496df",
     "dc4092d7809c6b070f2808c434267b6697428f4ab1e4626ab56a3059643be43c"},
    {"7bac18f6d2625d3915f233434cda38a577247a7332a5170b37142a34644145e0",
     "38765b89ec56836ea4190fc957802b6a47167f9b5ef942e92652803b7de6abfd"},
    {"38ead304624abebf3e2b31e20e5629531e3fc659008887c9106f5e55adbbc62a",
     "97575308a490af0c145411dd16d519a073ef03c2e4a0a1cd6b5de2e881e5eabe"},
    {"e9bc95049af7e4817b17c402269ba5e767b7348757ac8002fec9e08390c0a9cf",
     "ad129e89e0eec908df51adc227c8c4908a8095d75621536c8a28dca4b3c30dbb"},
    {"ee8155ca4e8fe7bc5bca5992044eab7f8c3c6a13db1176f42f46c29da5b064f4",
     "03ce643d6d341b7065bc9e70da8193451cf83ca7ff5a8640fd07af094640365a"},
    {"db507bfcc9576393f7157bb360532b05c5fcf2e764b690cc6698a4a30d349095",
     "581f593a5cd94594dc0f5dd142026a436a930e573391b7aeea6a8253eeef6ceb"},
    {"994eaf03309d6ad9d95a656bc1744e2886f029023a3750b34f35086b3c7227f8",
     "6f207dc94b844d4dc71f982da8d9f3ae0b37b4623e441eca75ba62621c524d98"},
    {"127d37e406e0d83e4b55a09e21e8f50fb88af47e4a43f018cdebffc1948757f0",
     "dea9bbb9fb20512fa67eea696afd786f3928265f5208aeaba638f3177d0db70e"},
    {"d83ba84edfb4bec49f29be31d80a64b7c0b5a502438cdb1d0dd1e0e3e55786de",
     "c99c52ae1e61f7c79a164ee4910fdcaa02946259ea5443f68b23d721d0472f63"},
    {"d3c9aa2f3d6ef217a166e8ae403ed436c37facbbe3beceb78df6eb439f8fa04a",
     "d8aaad0749db159569a68b46048b3d3e8266e110150251c42806f0752a84e95b"},
    {"d53280367c1c0b95ac4112218b92c6a71c51fb6312ce668de196c7d52a136155",
     "e78d26ab5b726c9d4dfb1f634082abded90432a2fd18089c7c85253a5d2fc7d0"},
    {"94ac2336ba97a476fb4c9f2b5563e4167ca292c6e99e422350a911ae3172c315",
     "8e7ca56e07f1438ac3615fd9ec77ae63679d0ec059b4595febf40be59d976a05"},
    {"e1e7316d231f7f275bdf403360304da1509fdf1af1fd25ca214eaac0a289398f",
     "e77525af5856ab9df5abb64e5312576b498cc27f61f266e21f382e0526d4e6fb"},
    {"fffbeea71215efaf9888fec2cc68edb3703ff11a66fd629b53cbda5eabc18750",
     "1f43235ad716f1beb754ab0f546dfa934488fdf7472b493d7cc3c60353005d24"},
    {"19ccc0527599cb032e0b4c4d74e60f13901768a99df041c3bc1bf6c0ef271169",
     "3977785b9f8c5320e51a3a16f8cc22c4f7e64857617f9550147fa35d685ca34f"},
    {"0e726e27047563aa0a1a9c2e085d8d26af2acba129d0869c65031e3e6cac329a",
     "1aa4415c5db0131bec6fa188d0c23d49a65bf795657153fae94777e3f19bcf54"},
    {"e77717b54a2b5e5bce5bccb8f0c5fdb5fd7df77ac254020fc9120dc0d4df4178",
     "0fb7680a50d3f2940077ea4dfcb7eb040a125c4f4b5dcefa16d3af968fc8e5de"},
    {"6220972d3f7d150b36790d7d522384876d64d640cd9913186815e1629582ed36",
     "e222c444d6bc8a4796a0d5a2d71d19b98845cc56e39caaf8233ea4c6b0704f09"},
    {"7b64a28c50ec7678a90e3e1a21522e30ac9db7b5215aea2bfb33bea037eab987",
     "a89ea18476b9ad90cb14b8b1ff24777e4ebd015bc810a60785a9154dacf3be52"},
    {"724452210a9e4c994819229bf12bf84e95768a3a97c08d8d8f5f939a4cad34c5",
     "69b1da56cde8d1676c2a8c0e7f95c7d0bf60739efd1304dd2ccb02729d17a22c"},
    {"bad265b294ed2f422cb6a141694086238fbfe987571aa765d8b4f3a24105aa01",
     "b332265cf95595f0c90221593b5a2b3c574d60dc634ddff6186f0eed7980a383"},
    {"0aaee4b723db9b51ba7d22eb23eb8a76a5ac02f4fc9dd06f77bea42e1d37ec5a",
     "faec9764b369df0ef10890dd022c502e551a3222b43e8429455496c76feea45d"},
    {"812344af15a91ba83c2c91e96f1727ac0f3c4c41385b9fa84efa399ada5168be",
     "4eb19e278f7a30a06a7d55e42c44775f4a81b7a45c0512aae026262e71770dac"},
    {"0ee5cb5597fbdf8dccc48b01485e39b33aa133b52d30d23740277267cfec3e3e",
     "1998d5949cab365a00f828e7d17b06c708d33fef0031d353a4e15bf7222a73b0"},
    {"9fba1de92b60b5b4703089763d0d6f9125e4dd7efae41f08a22882aef96892c4",
     "6164676114c66bd9887dac341c66209dc587ccf0cc5cd9baffdfac9295a00c4a"},
    {"7582ab1b52e1316e5c13671f43b39ca36b28133cd0832831bcddd0b0f23398cb",
     "4b0bd03a03b20069ccbcc214a7448473f4e7a491fa7ceb48ddbe24c83c4aa4bb"},
    {"dd2d678bae222f3fb6e8278f08cc9e1a66339c926c29ac0a16f9717f5ee18cd8",
     "2fce7870be1f392d21fb1d2350ec7877db8aa99b359fe5bdd5338ff35a791d1c"},
    {"ccbe7cb2e4bc215cee2f885e1d22f7e0d582b2bbbd782c104e548b152d26fc69",
     "a9ace42195ddbb3a16f366b24dd9d37a8a043ed2e6001f54652296750379367d"},
};

/* The group order L = 2^252 + 27742317777372353535851937790883648493, little endian. */
static const uint8_t group_order_le[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* ---- a booted pluton instance on a fresh host device ---------------------- */

struct fixture {
    char *tmpdir;
    struct nacre_board *board;
    nacre_pluton *p;
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_true(sodium_init() >= 0);

    f->tmpdir = nacre_test_tmpdir("vectors");
    size_t n = strlen(f->tmpdir) + sizeof("/dev");
    char *dev = malloc(n);
    assert_non_null(dev);
    snprintf(dev, n, "%s/dev", f->tmpdir);

    const char *detail = NULL;
    nacre_board_status bs = nacre_host_device_create(dev, NULL, &detail);
    if (bs != NACRE_BOARD_OK) {
        print_error("nacre_host_device_create: %s (%s)\n", nacre_board_strerror(bs),
                    detail != NULL ? detail : "");
    }
    assert_int_equal(bs, NACRE_BOARD_OK);
    bs = nacre_host_board_open(dev, &f->board, &detail);
    if (bs != NACRE_BOARD_OK) {
        print_error("nacre_host_board_open: %s (%s)\n", nacre_board_strerror(bs),
                    detail != NULL ? detail : "");
    }
    assert_int_equal(bs, NACRE_BOARD_OK);
    free(dev);

    /* The instance holds secrets: guarded, unswappable memory, as pluton.h asks. */
    f->p = sodium_malloc(sizeof(*f->p));
    assert_non_null(f->p);
    memset(f->p, 0, sizeof(*f->p));
    assert_int_equal(nacre_pluton_init(f->p, f->board), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_provision(f->p, NULL), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_boot_complete(f->p), NACRE_PLUTON_OK);
    assert_int_equal(nacre_pluton_booted(f->p), 1);

    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    if (f == NULL) {
        return 0;
    }
    if (f->p != NULL) {
        nacre_pluton_deinit(f->p);
        sodium_free(f->p);
    }
    nacre_host_board_close(f->board);
    nacre_test_rmtree(f->tmpdir);
    free(f->tmpdir);
    free(f);
    *state = NULL;
    return 0;
}

/* ---- helpers -------------------------------------------------------------- */

/* Decode hex of exactly `len` bytes into out. */
static void unhex_exact(const char *hex, uint8_t *out, size_t len)
{
    long n = nacre_test_unhex(hex, out, len);
    if (n != (long)len) {
        print_error("bad hex (want %zu bytes): %s\n", len, hex);
    }
    assert_int_equal(n, (long)len);
}

/* Decode hex of any length into a malloc'd buffer (never NULL, even if empty). */
static uint8_t *unhex_alloc(const char *hex, size_t *len)
{
    size_t max = strlen(hex) / 2;
    uint8_t *buf = malloc(max + 1);
    assert_non_null(buf);
    long n = nacre_test_unhex(hex, buf, max);
    if (n < 0) {
        print_error("bad hex: %s\n", hex);
    }
    assert_true(n >= 0);
    *len = (size_t)n;
    return buf;
}

static int verify_status(const uint8_t sig[SIG_BYTES], const uint8_t *msg, size_t msg_len,
                         const uint8_t pk[PK_BYTES])
{
    return (int)nacre_pluton_verify(sig, msg, msg_len, pk);
}

/* S' = S + L over the 32 little-endian bytes of S (no overflow for S < L). */
static void add_group_order(uint8_t s[32])
{
    unsigned carry = 0;
    for (size_t i = 0; i < 32; i++) {
        unsigned v = (unsigned)s[i] + group_order_le[i] + carry;
        s[i] = (uint8_t)v;
        carry = v >> 8;
    }
    assert_int_equal(carry, 0);
}

/* ---- RFC 8032 ------------------------------------------------------------- */

static void check_rfc8032_mutations(const struct rfc8032_vector *v, const uint8_t *msg,
                                    size_t msg_len, const uint8_t sig[SIG_BYTES],
                                    const uint8_t pk[PK_BYTES])
{
    uint8_t bad_sig[SIG_BYTES];
    uint8_t bad_pk[PK_BYTES];
    int failures = 0;

    /* Every bit of the first byte (R) and of the last byte (S, top byte). */
    const size_t positions[2] = {0, SIG_BYTES - 1};
    for (size_t k = 0; k < 2; k++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            memcpy(bad_sig, sig, SIG_BYTES);
            bad_sig[positions[k]] ^= (uint8_t)(1u << bit);
            if (verify_status(bad_sig, msg, msg_len, pk) != NACRE_PLUTON_ERR_BAD_SIGNATURE) {
                print_error("%s: signature byte %zu bit %u flipped was not rejected\n", v->name,
                            positions[k], bit);
                failures++;
            }
        }
    }

    /* Message: flip a bit of the first and the last byte, append a byte, drop a byte. */
    uint8_t *m = malloc(msg_len + 1);
    assert_non_null(m);
    if (msg_len > 0) {
        memcpy(m, msg, msg_len);
        m[0] ^= 0x01;
        if (verify_status(sig, m, msg_len, pk) != NACRE_PLUTON_ERR_BAD_SIGNATURE) {
            print_error("%s: message first-bit flip was not rejected\n", v->name);
            failures++;
        }
        memcpy(m, msg, msg_len);
        m[msg_len - 1] ^= 0x80;
        if (verify_status(sig, m, msg_len, pk) != NACRE_PLUTON_ERR_BAD_SIGNATURE) {
            print_error("%s: message last-bit flip was not rejected\n", v->name);
            failures++;
        }
        if (verify_status(sig, msg, msg_len - 1, pk) != NACRE_PLUTON_ERR_BAD_SIGNATURE) {
            print_error("%s: truncated message was not rejected\n", v->name);
            failures++;
        }
    }
    if (msg_len > 0) {
        memcpy(m, msg, msg_len);
    }
    m[msg_len] = 0x00;
    if (verify_status(sig, m, msg_len + 1, pk) != NACRE_PLUTON_ERR_BAD_SIGNATURE) {
        print_error("%s: message with a byte appended was not rejected\n", v->name);
        failures++;
    }
    free(m);

    /* Another public key: one flipped bit (low bit, and the x sign bit). */
    const unsigned pk_bits[2] = {0, 255};
    for (size_t k = 0; k < 2; k++) {
        memcpy(bad_pk, pk, PK_BYTES);
        bad_pk[pk_bits[k] / 8] ^= (uint8_t)(1u << (pk_bits[k] % 8));
        if (verify_status(sig, msg, msg_len, bad_pk) != NACRE_PLUTON_ERR_BAD_SIGNATURE) {
            print_error("%s: public key bit %u flipped was not rejected\n", v->name, pk_bits[k]);
            failures++;
        }
    }

    /* Malleability: S + L is the same scalar mod L but not canonical. */
    memcpy(bad_sig, sig, SIG_BYTES);
    add_group_order(bad_sig + 32);
    if (verify_status(bad_sig, msg, msg_len, pk) != NACRE_PLUTON_ERR_BAD_SIGNATURE) {
        print_error("%s: S + L (malleated signature) was not rejected\n", v->name);
        failures++;
    }

    assert_int_equal(failures, 0);
}

static void test_rfc8032_vectors(void **state)
{
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(rfc8032_vectors) / sizeof(rfc8032_vectors[0]); i++) {
        const struct rfc8032_vector *v = &rfc8032_vectors[i];
        uint8_t seed[SEED_BYTES];
        uint8_t want_pk[PK_BYTES];
        uint8_t want_sig[SIG_BYTES];
        uint8_t pk[PK_BYTES];
        uint8_t sig[SIG_BYTES];
        uint8_t sig2[SIG_BYTES];
        size_t msg_len = 0;

        unhex_exact(v->seed_hex, seed, sizeof(seed));
        unhex_exact(v->pk_hex, want_pk, sizeof(want_pk));
        unhex_exact(v->sig_hex, want_sig, sizeof(want_sig));
        uint8_t *msg = unhex_alloc(v->msg_hex, &msg_len);

        nacre_pluton_key key = 0;
        assert_int_equal(nacre_pluton_key_import_ed25519(f->p, seed, &key), NACRE_PLUTON_OK);
        sodium_memzero(seed, sizeof(seed));

        assert_int_equal(nacre_pluton_key_public(f->p, key, pk), NACRE_PLUTON_OK);
        if (memcmp(pk, want_pk, PK_BYTES) != 0) {
            print_error("%s: public key differs from RFC 8032\n", v->name);
        }
        assert_memory_equal(pk, want_pk, PK_BYTES);

        assert_int_equal(nacre_pluton_sign(f->p, key, sig, msg, msg_len), NACRE_PLUTON_OK);
        if (memcmp(sig, want_sig, SIG_BYTES) != 0) {
            print_error("%s: signature differs from RFC 8032\n", v->name);
        }
        assert_memory_equal(sig, want_sig, SIG_BYTES);

        /* Deterministic: signing again gives the same bytes. */
        assert_int_equal(nacre_pluton_sign(f->p, key, sig2, msg, msg_len), NACRE_PLUTON_OK);
        assert_memory_equal(sig2, want_sig, SIG_BYTES);

        assert_int_equal(nacre_pluton_verify(want_sig, msg, msg_len, want_pk), NACRE_PLUTON_OK);

        check_rfc8032_mutations(v, msg, msg_len, want_sig, want_pk);

        assert_int_equal(nacre_pluton_key_destroy(f->p, key), NACRE_PLUTON_OK);
        /* The handle is gone. */
        assert_int_equal(nacre_pluton_key_public(f->p, key, pk), NACRE_PLUTON_ERR_BAD_HANDLE);
        free(msg);
        printf("rfc8032: %-13s ok (%zu-byte message)\n", v->name, msg_len);
    }
}

/* ---- Wycheproof ----------------------------------------------------------- */

static json_t *load_wycheproof(void)
{
    char *path = nacre_test_vector_path("ed25519_test.json");
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (root == NULL) {
        print_error("%s:%d: %s\n", path, err.line, err.text);
    }
    free(path);
    assert_non_null(root);
    assert_true(json_is_array(json_object_get(root, "testGroups")));
    assert_true(json_is_integer(json_object_get(root, "numberOfTests")));
    return root;
}

static const char *json_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL) {
        print_error("missing string field \"%s\"\n", key);
    }
    assert_non_null(s);
    return s;
}

/* The group's public key: "publicKey" (v1 schema) or "key" (older schema). */
static const char *group_pk_hex(const json_t *group)
{
    const json_t *k = json_object_get(group, "publicKey");
    if (!json_is_object(k)) {
        k = json_object_get(group, "key");
    }
    assert_true(json_is_object(k));
    return json_str(k, "pk");
}

/* The group's seed: its own "key"."sk" if present, else the table above; NULL if neither. */
static const char *group_seed_hex(const json_t *group, const char *pk_hex)
{
    const json_t *k = json_object_get(group, "key");
    const char *sk = json_is_object(k) ? json_string_value(json_object_get(k, "sk")) : NULL;
    if (sk != NULL) {
        return sk;
    }
    for (size_t i = 0; i < sizeof(wycheproof_seeds) / sizeof(wycheproof_seeds[0]); i++) {
        if (strcmp(wycheproof_seeds[i].pk_hex, pk_hex) == 0) {
            return wycheproof_seeds[i].seed_hex;
        }
    }
    return NULL;
}

static void test_wycheproof_verify(void **state)
{
    (void)state;
    json_t *root = load_wycheproof();
    const json_t *groups = json_object_get(root, "testGroups");
    long long expected_total = json_integer_value(json_object_get(root, "numberOfTests"));
    long total = 0, valid = 0, invalid = 0, acceptable = 0, acceptable_ok = 0, by_length = 0;
    int failures = 0;

    size_t gi;
    const json_t *group;
    json_array_foreach(groups, gi, group) {
        uint8_t pk[PK_BYTES];
        unhex_exact(group_pk_hex(group), pk, sizeof(pk));

        size_t ti;
        const json_t *t;
        json_array_foreach(json_object_get(group, "tests"), ti, t) {
            long long tc = json_integer_value(json_object_get(t, "tcId"));
            const char *result = json_str(t, "result");
            size_t msg_len = 0, sig_len = 0;
            uint8_t *msg = unhex_alloc(json_str(t, "msg"), &msg_len);
            uint8_t *sig = unhex_alloc(json_str(t, "sig"), &sig_len);
            total++;

            int is_valid = strcmp(result, "valid") == 0;
            int is_invalid = strcmp(result, "invalid") == 0;
            int is_acceptable = strcmp(result, "acceptable") == 0;
            if (!is_valid && !is_invalid && !is_acceptable) {
                print_error("tcId %lld: unknown result \"%s\"\n", tc, result);
                failures++;
            }
            valid += is_valid;
            invalid += is_invalid;
            acceptable += is_acceptable;

            if (sig_len != SIG_BYTES) {
                /*
                 * nacre_pluton_verify() takes exactly 64 bytes, so a signature of
                 * another length cannot be passed to it: the caller rejects it on
                 * length. Such a vector must therefore never be "valid".
                 */
                by_length++;
                if (is_valid) {
                    print_error("tcId %lld: valid vector with a %zu-byte signature\n", tc, sig_len);
                    failures++;
                }
            } else {
                int st = verify_status(sig, msg, msg_len, pk);
                if (is_valid && st != NACRE_PLUTON_OK) {
                    print_error("tcId %lld (%s): valid signature rejected: %s\n", tc,
                                json_str(t, "comment"),
                                nacre_pluton_strerror((nacre_pluton_status)st));
                    failures++;
                } else if (is_invalid && st != NACRE_PLUTON_ERR_BAD_SIGNATURE) {
                    print_error("tcId %lld (%s): invalid signature gave %s, want bad signature\n",
                                tc, json_str(t, "comment"),
                                nacre_pluton_strerror((nacre_pluton_status)st));
                    failures++;
                } else if (is_acceptable) {
                    if (st == NACRE_PLUTON_OK) {
                        acceptable_ok++;
                    } else if (st != NACRE_PLUTON_ERR_BAD_SIGNATURE) {
                        print_error("tcId %lld: acceptable vector gave %s\n", tc,
                                    nacre_pluton_strerror((nacre_pluton_status)st));
                        failures++;
                    }
                }
            }
            free(msg);
            free(sig);
        }
    }

    printf("wycheproof: %ld tests, %ld valid, %ld invalid (%ld of them rejected on length), "
           "%ld acceptable (%ld accepted)\n",
           total, valid, invalid, by_length, acceptable, acceptable_ok);
    assert_int_equal(failures, 0);
    assert_int_equal(total, (long)expected_total);
    assert_int_equal(valid + invalid + acceptable, total);
    json_decref(root);
}

static void test_wycheproof_sign(void **state)
{
    struct fixture *f = *state;
    json_t *root = load_wycheproof();
    const json_t *groups = json_object_get(root, "testGroups");
    long n_groups = 0, reproduced = 0;
    int failures = 0;

    size_t gi;
    const json_t *group;
    json_array_foreach(groups, gi, group) {
        const char *pk_hex = group_pk_hex(group);
        const char *seed_hex = group_seed_hex(group, pk_hex);
        if (seed_hex == NULL) {
            print_error("group %zu: no private key for public key %s\n", gi, pk_hex);
            failures++;
            continue;
        }
        uint8_t seed[SEED_BYTES];
        uint8_t want_pk[PK_BYTES];
        uint8_t pk[PK_BYTES];
        unhex_exact(seed_hex, seed, sizeof(seed));
        unhex_exact(pk_hex, want_pk, sizeof(want_pk));

        nacre_pluton_key key = 0;
        assert_int_equal(nacre_pluton_key_import_ed25519(f->p, seed, &key), NACRE_PLUTON_OK);
        sodium_memzero(seed, sizeof(seed));
        n_groups++;
        assert_int_equal(nacre_pluton_key_public(f->p, key, pk), NACRE_PLUTON_OK);
        if (memcmp(pk, want_pk, PK_BYTES) != 0) {
            print_error("group %zu: imported seed gives another public key than %s\n", gi, pk_hex);
            failures++;
        }

        size_t ti;
        const json_t *t;
        json_array_foreach(json_object_get(group, "tests"), ti, t) {
            if (strcmp(json_str(t, "result"), "valid") != 0) {
                continue;
            }
            long long tc = json_integer_value(json_object_get(t, "tcId"));
            size_t msg_len = 0, want_len = 0;
            uint8_t *msg = unhex_alloc(json_str(t, "msg"), &msg_len);
            uint8_t *want = unhex_alloc(json_str(t, "sig"), &want_len);
            uint8_t sig[SIG_BYTES];
            assert_int_equal(want_len, SIG_BYTES);
            assert_int_equal(nacre_pluton_sign(f->p, key, sig, msg, msg_len), NACRE_PLUTON_OK);
            if (memcmp(sig, want, SIG_BYTES) != 0) {
                print_error("tcId %lld: nacre_pluton_sign differs from the expected signature\n",
                            tc);
                failures++;
            } else {
                reproduced++;
            }
            free(msg);
            free(want);
        }
        /* NACRE_PLUTON_KEY_SLOTS is small: give the slot back before the next group. */
        assert_int_equal(nacre_pluton_key_destroy(f->p, key), NACRE_PLUTON_OK);
    }

    printf("wycheproof: %ld groups imported, %ld valid signatures reproduced by "
           "nacre_pluton_sign\n",
           n_groups, reproduced);
    assert_int_equal(failures, 0);
    assert_int_equal(n_groups, (long)json_array_size(groups));
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rfc8032_vectors, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_wycheproof_verify),
        cmocka_unit_test_setup_teardown(test_wycheproof_sign, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("pluton_vectors", tests, NULL, NULL);
}
