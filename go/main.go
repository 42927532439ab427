// Command libcuepy is built with -buildmode=c-shared into the shared library
// that ships inside the cuepy Python package. Its exports are declared in
// cuepy.h; each concern lives in its own file (handles, errors, memory,
// context, load, value, export, registry).
package main

func main() {}
