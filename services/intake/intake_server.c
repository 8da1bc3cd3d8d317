/* placeholder */
int intake_placeholder (void);
int
intake_placeholder (void)
{
    return 0;
}
