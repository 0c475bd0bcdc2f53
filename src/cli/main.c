/* placeholder until the cli lands */
int main(void) { return 0; }
