package qr_test

import (
	"fmt"
	"strings"

	"github.com/parley-im/parley/wasm/qr"
)

func ExampleEncode() {
	m, err := qr.Encode("PARLEY", qr.LevelM)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("version %d-%s, %s mode, mask %d, %d×%d modules\n", m.Version(), m.Level(), m.Mode(), m.Mask(), m.Size(), m.Size())
	for _, row := range m.Rows() {
		fmt.Println(strings.NewReplacer("1", "#", "0", ".").Replace(row))
	}
	// Output:
	// version 1-M, alphanumeric mode, mask 0, 21×21 modules
	// #######..#....#######
	// #.....#.#####.#.....#
	// #.###.#..####.#.###.#
	// #.###.#.....#.#.###.#
	// #.###.#.##..#.#.###.#
	// #.....#..##.#.#.....#
	// #######.#.#.#.#######
	// .........####........
	// #.#.#.#..###....#..#.
	// ##.##...#.#...#..##.#
	// ###.#####.#.#...####.
	// #.####...#....#..####
	// ##.##.###.#.#.#.#..##
	// ........#..#.#.#.###.
	// #######...##.###..###
	// #.....#..#.###.####.#
	// #.###.#.#.##.###....#
	// #.###.#..##...##...#.
	// #.###.#.##..#...#...#
	// #.....#...#...##.#.##
	// #######.#.#.#.#.#.#.#
}
